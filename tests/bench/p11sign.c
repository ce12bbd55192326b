/* p11sign: the token's raw signing rate, the ceiling `make bench` holds
 * airlock-station against. One process, S sessions (the station uses one),
 * each a thread doing C_SignInit + C_Sign in a loop for SECONDS, with the
 * mechanism the station's signing path uses through libp11: CKM_ECDSA over
 * a SHA-256/384 digest for EC keys, CKM_RSA_PKCS over a SHA-256 DigestInfo
 * for RSA keys (libp11 hashes in software, as OpenSSL's X509_sign does).
 *
 *   p11sign MODULE TOKEN-LABEL KEY-LABEL PIN-FILE SECONDS [SESSIONS]
 *
 * Prints one line: "signatures N seconds T rate R sessions S mech M".
 * Build: cc -O2 $(pkg-config --cflags p11-kit-1) p11sign.c -ldl -lpthread */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static CK_MECHANISM_TYPE mech;
static CK_BYTE msg[64];
static CK_ULONG msglen;
static CK_ULONG keylabel_len;
static const char *keylabel;
static double seconds;

struct worker {
	pthread_t th;
	unsigned long n;
	int err;
};

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
find_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *key, CK_KEY_TYPE *kt)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_LABEL, (void *)keylabel, keylabel_len},
	};
	CK_ULONG n = 0;
	CK_ATTRIBUTE a = {CKA_KEY_TYPE, kt, sizeof(*kt)};

	if (f->C_FindObjectsInit(s, tmpl, 2) != CKR_OK ||
	    f->C_FindObjects(s, key, 1, &n) != CKR_OK ||
	    f->C_FindObjectsFinal(s) != CKR_OK || n != 1)
		return -1;
	return f->C_GetAttributeValue(s, *key, &a, 1) == CKR_OK ? 0 : -1;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_KEY_TYPE kt;
	CK_MECHANISM m = {0, NULL, 0};
	CK_BYTE sig[1024];
	CK_ULONG siglen;
	double end;

	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
		CKR_OK ||
	    find_key(s, &key, &kt) != 0) {
		w->err = 1;
		return NULL;
	}
	m.mechanism = mech;
	end = now() + seconds;
	while (now() < end) {
		int i;
		for (i = 0; i < 8; i++) {
			siglen = sizeof(sig);
			if (f->C_SignInit(s, &m, key) != CKR_OK ||
			    f->C_Sign(s, msg, msglen, sig, &siglen) != CKR_OK) {
				w->err = 1;
				return NULL;
			}
			w->n++;
		}
	}
	f->C_CloseSession(s);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const CK_BYTE sha256_di[] = {
	    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	CK_RV (*gfl)(CK_FUNCTION_LIST_PTR_PTR);
	CK_SLOT_ID slots[64];
	CK_ULONG nslots = 64, i;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_KEY_TYPE kt;
	struct worker *w;
	char pin[256], label[33];
	FILE *pf;
	void *h;
	int nsess, k, found = 0;
	unsigned long total = 0;
	double t0, t1;

	if (argc < 6) {
		fprintf(stderr, "usage: p11sign MODULE TOKEN-LABEL KEY-LABEL "
				"PIN-FILE SECONDS [SESSIONS]\n");
		return 2;
	}
	keylabel = argv[3];
	keylabel_len = strlen(keylabel);
	seconds = atof(argv[5]);
	nsess = argc > 6 ? atoi(argv[6]) : 1;
	if ((pf = fopen(argv[4], "r")) == NULL || !fgets(pin, sizeof(pin), pf))
		return fprintf(stderr, "p11sign: cannot read %s\n", argv[4]), 1;
	fclose(pf);
	pin[strcspn(pin, "\r\n")] = '\0';
	if ((h = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (gfl = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(
		 h, "C_GetFunctionList")) == NULL ||
	    gfl(&f) != CKR_OK)
		return fprintf(stderr, "p11sign: cannot load %s\n", argv[1]), 1;
	{
		CK_C_INITIALIZE_ARGS ia;
		memset(&ia, 0, sizeof(ia));
		ia.flags = CKF_OS_LOCKING_OK;
		if (f->C_Initialize(&ia) != CKR_OK)
			return fprintf(stderr, "p11sign: C_Initialize\n"), 1;
	}
	if (f->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK)
		return 1;
	for (i = 0; i < nslots && !found; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, 32);
		label[32] = '\0';
		for (k = 31; k >= 0 && label[k] == ' '; k--)
			label[k] = '\0';
		if (strcmp(label, argv[2]) == 0) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found)
		return fprintf(stderr, "p11sign: no token '%s'\n", argv[2]), 1;
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
		CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) !=
		CKR_OK ||
	    find_key(s, &key, &kt) != 0)
		return fprintf(stderr, "p11sign: login or key '%s'\n", argv[3]),
		       1;
	memset(msg, 0x5a, sizeof(msg));
	if (kt == CKK_RSA) {
		mech = CKM_RSA_PKCS;
		memcpy(msg, sha256_di, sizeof(sha256_di));
		msglen = sizeof(sha256_di) + 32;
	} else {
		CK_BYTE params[64];
		CK_ATTRIBUTE a = {CKA_EC_PARAMS, params, sizeof(params)};
		mech = CKM_ECDSA;
		msglen = 32;
		/* P-384: the station signs with SHA-384 (certsign_md) */
		if (f->C_GetAttributeValue(s, key, &a, 1) == CKR_OK &&
		    a.ulValueLen == 7 && params[6] == 0x22)
			msglen = 48;
	}
	if ((w = calloc((size_t)nsess, sizeof(*w))) == NULL)
		return 1;
	t0 = now();
	for (k = 0; k < nsess; k++)
		pthread_create(&w[k].th, NULL, run, &w[k]);
	for (k = 0; k < nsess; k++) {
		pthread_join(w[k].th, NULL);
		if (w[k].err)
			return fprintf(stderr, "p11sign: signing failed\n"), 1;
		total += w[k].n;
	}
	t1 = now();
	printf("signatures %lu seconds %.3f rate %.1f sessions %d mech %s\n",
	       total, t1 - t0, (double)total / (t1 - t0), nsess,
	       mech == CKM_ECDSA ? "CKM_ECDSA" : "CKM_RSA_PKCS");
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
