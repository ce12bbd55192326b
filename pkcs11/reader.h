/* Smartcard readers through pcsc-lite: list readers and their card state, and
 * wait for a card to be inserted or removed (ceremonies that swap the root and
 * intermediate cards).
 *
 * Reader names come from pcscd and are untrusted: callers that print them to a
 * terminal must strip control characters first. */
#ifndef AIRLOCK_PKCS11_READER_H
#define AIRLOCK_PKCS11_READER_H

#include <stddef.h>

/* A snapshot of the readers pcscd knows and the state of each. */
struct reader_list;

/* Take a snapshot of every reader and its state. Fails with
 * AIRLOCK_E_PCSC_NO_SERVICE when pcscd is not running and
 * AIRLOCK_E_PCSC_NO_READER when it knows no reader. */
int reader_list_get(struct reader_list **out)
    __attribute__((warn_unused_result));
size_t reader_list_count(const struct reader_list *rl);
/* Borrowed strings, valid until reader_list_free(); NULL if i is out of range.
 */
const char *reader_list_name(const struct reader_list *rl, size_t i);
/* 1 if a card is in reader i (even a mute or busy one), else 0. */
int reader_list_card_present(const struct reader_list *rl, size_t i);
/* "present", "empty", "in use", "mute" or "unavailable". */
const char *reader_list_state(const struct reader_list *rl, size_t i);
/* The card's ATR as upper-case hex, "" when there is no card. */
const char *reader_list_atr_hex(const struct reader_list *rl, size_t i);
void reader_list_free(struct reader_list *rl);

/* Block until a card is present in READER, or in any reader when READER is
 * NULL (including readers plugged in while waiting), or until timeout_ms
 * passes (-1: forever; 0: look once). Returns at once if a card is already
 * present. READER is an exact reader name or an unambiguous prefix of one; a
 * name that matches no reader fails with AIRLOCK_E_PCSC_NO_READER and the
 * detail lists the readers there are. On success *reader_out (malloc'd, the
 * caller frees it) names the reader holding the card. */
int reader_card_wait(const char *reader, long timeout_ms, char **reader_out)
    __attribute__((warn_unused_result));

/* Block until no card is present in READER (NULL: in no reader at all) or
 * until timeout_ms passes (-1: forever). Returns at once if there is no card.
 */
int reader_card_wait_removed(const char *reader, long timeout_ms)
    __attribute__((warn_unused_result));

#endif
