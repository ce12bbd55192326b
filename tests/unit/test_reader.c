/* pkcs11/reader: argument checks and the no-pcscd path, without a daemon
 * (tests/integration/test_readers.sh drives a real pcscd and card). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "pkcs11/reader.h"
#include "tests/unit/tap.h"

int main(void);

static void
test_accessors_null(void)
{
	TAP_CHECK(reader_list_count(NULL) == 0, "count(NULL) is 0");
	TAP_CHECK(reader_list_name(NULL, 0) == NULL, "name(NULL) is NULL");
	TAP_CHECK(reader_list_state(NULL, 0) == NULL, "state(NULL) is NULL");
	TAP_CHECK(reader_list_atr_hex(NULL, 0) == NULL, "atr(NULL) is NULL");
	TAP_CHECK(reader_list_card_present(NULL, 0) == 0,
		  "card_present(NULL) is 0");
	reader_list_free(NULL);
	TAP_CHECK(1, "reader_list_free(NULL) is a no-op");
}

static void
test_bad_args(void)
{
	char *name = (char *)"not cleared";

	TAP_CHECK(reader_list_get(NULL) == AIRLOCK_E_INVALID_ARG,
		  "reader_list_get(NULL): AIRLOCK_E_INVALID_ARG");
	TAP_CHECK(reader_card_wait(NULL, -2, &name) == AIRLOCK_E_INVALID_ARG,
		  "wait with timeout -2: AIRLOCK_E_INVALID_ARG");
	TAP_CHECK(name == NULL, "wait clears *reader_out on entry");
	TAP_CHECK(reader_card_wait_removed(NULL, -7) == AIRLOCK_E_INVALID_ARG,
		  "wait_removed with timeout -7: AIRLOCK_E_INVALID_ARG");
}

/* pcsc-lite's client honours PCSCLITE_CSOCK_NAME: point it at nothing. */
static void
test_no_service(void)
{
	struct reader_list *rl = (struct reader_list *)&rl;
	char *name = NULL;
	int r;

	setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/airlock/pcscd.comm", 1);
	err_detail_clear();
	r = reader_list_get(&rl);
	TAP_CHECK(
	    r == AIRLOCK_E_PCSC_NO_SERVICE,
	    "no pcscd: reader_list_get gives AIRLOCK_E_PCSC_NO_SERVICE (%d)",
	    r);
	TAP_CHECK(rl == NULL, "no pcscd: *out is NULL");
	TAP_CHECK(strstr(err_detail_get(), "systemctl start pcscd") != NULL &&
		      strstr(err_detail_get(),
			     "/nonexistent/airlock/pcscd.comm") != NULL,
		  "no pcscd: detail says how to start it and names the socket");
	r = reader_card_wait(NULL, 0, &name);
	TAP_CHECK(r == AIRLOCK_E_PCSC_NO_SERVICE && name == NULL,
		  "no pcscd: reader_card_wait gives AIRLOCK_E_PCSC_NO_SERVICE");
	r = reader_card_wait_removed("x", 0);
	TAP_CHECK(r == AIRLOCK_E_PCSC_NO_SERVICE,
		  "no pcscd: reader_card_wait_removed gives "
		  "AIRLOCK_E_PCSC_NO_SERVICE");
	TAP_CHECK(err_exit_status(r) == AIRLOCK_EXIT_TOKEN,
		  "no pcscd: exit status 5");
}

int
main(void)
{
	test_accessors_null();
	test_bad_args();
	test_no_service();
	return TAP_DONE();
}
