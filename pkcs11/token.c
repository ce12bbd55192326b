#include "pkcs11/token.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "pkcs11/ckr.h"
#include "pkcs11/pin.h"
#include "pkcs11/token_int.h"

#define TOKEN_MAX_SLOTS	  64
#define TOKEN_MAX_OBJECTS 256
#define TOKEN_MAX_ATTR	  8192

struct token_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	PKCS11_CTX *p11;
	PKCS11_SLOT *p11_slots;
	unsigned int p11_nslots;
	int p11_loaded;
	CK_INFO info;
};

struct token {
	struct token_module *m;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE sess;
	int have_sess;
	int initialized;
	char label[33], manufacturer[33], model[17], serial[17];
};

struct token_key {
	struct token *t;
	CK_OBJECT_HANDLE h;
	CK_KEY_TYPE type;
	unsigned char *id;
	size_t id_len;
	char *label;
};

/* PKCS#11 strings are fixed-width and blank padded. */
static void
p11_str(char *dst, const CK_UTF8CHAR *src, size_t n)
{
	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

static int
token_is_default_module(const struct token_module *m)
{
	return strcmp(m->path, TOKEN_DEFAULT_MODULE) == 0;
}

/* Open the module ourselves first so that a failure can be explained with
 * dlopen's own words; libp11 then opens the same (refcounted) handle. */
static int
token_module_dlopen(struct token_module *m)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	struct stat st;
	const char *msg;
	CK_RV rv;

	if (strchr(m->path, '/') != NULL && stat(m->path, &st) != 0) {
		err_detail_set("%s: %s; check the path, or install the "
			       "module's package (SoftHSM2: softhsm2, OpenSC: "
			       "opensc-pkcs11, YubiHSM 2: yubihsm-pkcs11)",
			       m->path, strerror(errno));
		return AIRLOCK_E_MODULE_LOAD;
	}
	if ((m->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		msg = dlerror();
		err_detail_set("dlopen: %s", msg != NULL ? msg : "unknown");
		return AIRLOCK_E_MODULE_LOAD;
	}
	*(void **)(&get_list) = dlsym(m->dl, "C_GetFunctionList");
	if (get_list == NULL) {
		err_detail_set("%s has no C_GetFunctionList symbol: it is not "
			       "a PKCS#11 module",
			       m->path);
		return AIRLOCK_E_MODULE_LOAD;
	}
	if ((rv = get_list(&m->f)) != CKR_OK || m->f == NULL) {
		err_detail_set("%s: C_GetFunctionList: %s", m->path,
			       ckr_name(rv));
		return AIRLOCK_E_MODULE_LOAD;
	}
	return 0;
}

int
token_module_load(const char *path, struct token_module **out)
{
	struct token_module *m = NULL;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((m->path = strdup(path != NULL ? path : TOKEN_DEFAULT_MODULE)) ==
	    NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if ((r = token_module_dlopen(m)) != 0)
		goto out;
	if ((m->p11 = PKCS11_CTX_new()) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (PKCS11_CTX_load(m->p11, m->path) != 0) {
		/* libp11 only says "failed": ask the module why. */
		memset(&args, 0, sizeof(args));
		args.flags = CKF_OS_LOCKING_OK;
		rv = m->f->C_Initialize(&args);
		if (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			if (rv == CKR_OK)
				m->f->C_Finalize(NULL);
			err_detail_set("%s: libp11 could not initialise the "
				       "module",
				       m->path);
		} else {
			err_detail_set("%s: C_Initialize: %s%s", m->path,
				       ckr_name(rv),
				       strstr(m->path, "softhsm") != NULL
					   ? " (is SOFTHSM2_CONF set and its "
					     "token directory there?)"
					   : "");
		}
		ERR_clear_error();
		r = AIRLOCK_E_MODULE_LOAD;
		goto out;
	}
	m->p11_loaded = 1;
	if ((rv = m->f->C_GetInfo(&m->info)) != CKR_OK) {
		r = ckr_to_err(rv, "C_GetInfo");
		goto out;
	}
	*out = m;
	m = NULL;
	r = 0;
out:
	token_module_free(m);
	return r;
}

void
token_module_free(struct token_module *m)
{
	if (m == NULL)
		return;
	if (m->p11_slots != NULL)
		PKCS11_release_all_slots(m->p11, m->p11_slots, m->p11_nslots);
	if (m->p11 != NULL) {
		if (m->p11_loaded)
			PKCS11_CTX_unload(m->p11);
		PKCS11_CTX_free(m->p11);
	}
	if (m->dl != NULL)
		dlclose(m->dl);
	free(m->path);
	free(m);
}

const char *
token_module_path(const struct token_module *m)
{
	return m->path;
}

const char *
token_module_file(const struct token_module *m)
{
	struct link_map *lm = NULL;

	if (m->dl != NULL && dlinfo(m->dl, RTLD_DI_LINKMAP, &lm) == 0 &&
	    lm != NULL && lm->l_name != NULL && lm->l_name[0] == '/')
		return lm->l_name;
	return m->path;
}

/* ---- token identity and URIs ---------------------------------------- */

static int
token_fill(struct token_module *m, CK_SLOT_ID slot, struct token *t)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	memset(t, 0, sizeof(*t));
	t->m = m;
	t->slot = slot;
	if ((rv = m->f->C_GetTokenInfo(slot, &ti)) != CKR_OK)
		return ckr_to_err(rv, "C_GetTokenInfo");
	p11_str(t->label, ti.label, sizeof(ti.label));
	p11_str(t->manufacturer, ti.manufacturerID, sizeof(ti.manufacturerID));
	p11_str(t->model, ti.model, sizeof(ti.model));
	p11_str(t->serial, ti.serialNumber, sizeof(ti.serialNumber));
	t->initialized = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
	return 0;
}

/* A URI with this token's identity, plus OBJECT/ID/TYPE when given. */
static int
token_uri_make(const struct token *t, const char *object,
	       const unsigned char *id, size_t id_len, const char *type,
	       char **out)
{
	struct p11_uri *u = NULL;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((r = uri_new(&u)) != 0)
		return r;
	if ((r = uri_set1(u, "token", t->label, strlen(t->label))) != 0 ||
	    (r = uri_set1(u, "manufacturer", t->manufacturer,
			  strlen(t->manufacturer))) != 0 ||
	    (r = uri_set1(u, "model", t->model, strlen(t->model))) != 0 ||
	    (r = uri_set1(u, "serial", t->serial, strlen(t->serial))) != 0)
		goto out;
	if (object != NULL &&
	    (r = uri_set1(u, "object", object, strlen(object))) != 0)
		goto out;
	if (id != NULL && id_len > 0 &&
	    (r = uri_set1(u, "id", id, id_len)) != 0)
		goto out;
	if (type != NULL && (r = uri_set1(u, "type", type, strlen(type))) != 0)
		goto out;
	if (!token_is_default_module(t->m) &&
	    (r = uri_set1(u, "module-path", t->m->path, strlen(t->m->path))) !=
		0)
		goto out;
	r = uri_format(u, out);
out:
	uri_free(u);
	return r;
}

int
token_uri(const struct token *t, char **out)
{
	return token_uri_make(t, NULL, NULL, 0, NULL, out);
}

const char *
token_label(const struct token *t)
{
	return t->label;
}

const char *
token_serial(const struct token *t)
{
	return t->serial;
}

const char *
token_manufacturer(const struct token *t)
{
	return t->manufacturer;
}

const char *
token_model(const struct token *t)
{
	return t->model;
}

struct token_module *
token_get0_module(const struct token *t)
{
	return t->m;
}

static int
uri_str_match(const struct p11_uri *uri, const char *attr, const char *val)
{
	const char *want = uri_get0(uri, attr);

	return want == NULL || strcmp(want, val) == 0;
}

static int
token_matches(const struct token_module *m, const struct token *t,
	      const struct p11_uri *uri)
{
	CK_SLOT_INFO si;
	char buf[65], ver[16];
	const char *sid;

	if (uri == NULL)
		return 1;
	if (!uri_str_match(uri, "token", t->label) ||
	    !uri_str_match(uri, "manufacturer", t->manufacturer) ||
	    !uri_str_match(uri, "model", t->model) ||
	    !uri_str_match(uri, "serial", t->serial))
		return 0;
	if ((sid = uri_get0(uri, "slot-id")) != NULL) {
		snprintf(buf, sizeof(buf), "%lu", (unsigned long)t->slot);
		if (strcmp(sid, buf) != 0)
			return 0;
	}
	if (uri_get0(uri, "slot-description") != NULL ||
	    uri_get0(uri, "slot-manufacturer") != NULL) {
		if (m->f->C_GetSlotInfo(t->slot, &si) != CKR_OK)
			return 0;
		p11_str(buf, si.slotDescription, sizeof(si.slotDescription));
		if (!uri_str_match(uri, "slot-description", buf))
			return 0;
		p11_str(buf, si.manufacturerID, sizeof(si.manufacturerID));
		if (!uri_str_match(uri, "slot-manufacturer", buf))
			return 0;
	}
	p11_str(buf, m->info.manufacturerID, sizeof(m->info.manufacturerID));
	if (!uri_str_match(uri, "library-manufacturer", buf))
		return 0;
	p11_str(buf, m->info.libraryDescription,
		sizeof(m->info.libraryDescription));
	if (!uri_str_match(uri, "library-description", buf))
		return 0;
	snprintf(ver, sizeof(ver), "%u.%u", m->info.libraryVersion.major,
		 m->info.libraryVersion.minor);
	return uri_str_match(uri, "library-version", ver);
}

static int
token_slots(struct token_module *m, CK_SLOT_ID *slots, CK_ULONG *n)
{
	CK_RV rv;

	*n = TOKEN_MAX_SLOTS;
	rv = m->f->C_GetSlotList(CK_TRUE, slots, n);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		err_detail_set("more than %d slots with tokens",
			       TOKEN_MAX_SLOTS);
		return AIRLOCK_E_TOO_LARGE;
	}
	return ckr_to_err(rv, "C_GetSlotList");
}

int
token_open(struct token_module *m, const struct p11_uri *uri,
	   struct token **out)
{
	CK_SLOT_ID slots[TOKEN_MAX_SLOTS];
	CK_ULONG n, i;
	struct token cand, *t = NULL;
	char list[2048] = "", *u = NULL;
	size_t found = 0, used = 0;
	CK_RV rv;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((r = token_slots(m, slots, &n)) != 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < n; i++) {
		if (token_fill(m, slots[i], &cand) != 0 || !cand.initialized)
			continue;
		if (!token_matches(m, &cand, uri))
			continue;
		if (found++ == 0)
			*t = cand;
		if (token_uri(&cand, &u) == 0 && used < sizeof(list)) {
			int w = snprintf(list + used, sizeof(list) - used,
					 "\n  %s", u);
			if (w > 0)
				used += (size_t)w;
		}
		free(u);
		u = NULL;
	}
	if (found == 0) {
		err_detail_set("no token in %s matches; `airlock-station token "
			       "list` shows the tokens there are",
			       m->path);
		r = AIRLOCK_E_TOKEN_NOT_FOUND;
		goto out;
	}
	if (found > 1) {
		err_detail_set("%zu tokens match; name one by serial:%s", found,
			       list);
		r = AIRLOCK_E_TOKEN_AMBIGUOUS;
		goto out;
	}
	rv = m->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &t->sess);
	if (rv == CKR_TOKEN_WRITE_PROTECTED)
		rv = m->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL,
					 NULL, &t->sess);
	if ((r = ckr_to_err(rv, "C_OpenSession")) != 0)
		goto out;
	t->have_sess = 1;
	*out = t;
	t = NULL;
	r = 0;
out:
	token_close(t);
	return r;
}

void
token_close(struct token *t)
{
	if (t == NULL)
		return;
	if (t->have_sess)
		t->m->f->C_CloseSession(t->sess);
	free(t);
}

/* ---- login ----------------------------------------------------------- */

static int
token_flags(struct token *t, CK_FLAGS *flags)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if ((rv = t->m->f->C_GetTokenInfo(t->slot, &ti)) != CKR_OK)
		return ckr_to_err(rv, "C_GetTokenInfo");
	*flags = ti.flags;
	return 0;
}

static int
token_logged_in(struct token *t)
{
	CK_SESSION_INFO si;

	if (t->m->f->C_GetSessionInfo(t->sess, &si) != CKR_OK)
		return 0;
	return si.state == CKS_RO_USER_FUNCTIONS ||
	       si.state == CKS_RW_USER_FUNCTIONS;
}

int
token_login(struct token *t, const char *pin_source,
	    const struct token_login_ui *ui)
{
	struct secmem *pin = NULL;
	char what[160], prompt[160];
	CK_FLAGS flags = 0;
	CK_RV rv;
	int r = AIRLOCK_E_INTERNAL;

	if ((r = token_flags(t, &flags)) != 0)
		return r;
	if (token_logged_in(t) || !(flags & CKF_LOGIN_REQUIRED))
		return 0;
	snprintf(what, sizeof(what), "C_Login on token '%s' (serial %s)",
		 t->label, t->serial);
	if (flags & CKF_USER_PIN_LOCKED)
		return ckr_to_err(CKR_PIN_LOCKED, what);
	if (!(flags & CKF_USER_PIN_INITIALIZED)) {
		err_detail_set("%s: the user PIN was never set; initialise the "
			       "token first",
			       what);
		return AIRLOCK_E_TOKEN;
	}
	if (flags & CKF_USER_PIN_FINAL_TRY) {
		if (ui == NULL || ui->confirm == NULL ||
		    !ui->confirm(ui->arg, "This is the token's FINAL PIN try: "
					  "a wrong PIN locks it. Go on?")) {
			err_detail_set("token '%s' is on its final PIN try; "
				       "not trying without confirmation",
				       t->label);
			return AIRLOCK_E_CANCELLED;
		}
	} else if ((flags & CKF_USER_PIN_COUNT_LOW) && ui != NULL &&
		   ui->warn != NULL) {
		ui->warn(ui->arg, "a wrong PIN was entered on this token "
				  "recently; few tries remain before it locks");
	}
	if (flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		if (ui != NULL && ui->warn != NULL)
			ui->warn(ui->arg,
				 "enter the PIN on the reader's PIN pad");
		rv = t->m->f->C_Login(t->sess, CKU_USER, NULL, 0);
	} else {
		snprintf(prompt, sizeof(prompt),
			 "PIN for token '%s' (serial %s): ", t->label,
			 t->serial);
		if ((r = pin_read(pin_source, prompt, &pin)) != 0)
			return r;
		rv = t->m->f->C_Login(t->sess, CKU_USER,
				      (CK_UTF8CHAR_PTR)secmem_data(pin),
				      (CK_ULONG)secmem_len(pin));
		secmem_free(pin);
	}
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if ((r = ckr_to_err(rv, what)) == 0)
		return 0;
	if (r == AIRLOCK_E_TOKEN_PIN_INCORRECT && token_flags(t, &flags) == 0) {
		char msg[sizeof(what) + 256];
		snprintf(msg, sizeof(msg), "%s", err_detail_get());
		err_detail_set(
		    "%s%s", msg,
		    (flags & CKF_USER_PIN_LOCKED) ? "; the PIN is now LOCKED"
		    : (flags & CKF_USER_PIN_FINAL_TRY)
			? "; ONE try is left before it locks"
		    : (flags & CKF_USER_PIN_COUNT_LOW) ? "; few tries are left"
						       : "");
	}
	return r;
}

/* ---- objects --------------------------------------------------------- */

static int
token_find(struct token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
	   CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count)
{
	CK_RV rv;

	*count = 0;
	if ((rv = t->m->f->C_FindObjectsInit(t->sess, tmpl, n)) != CKR_OK)
		return ckr_to_err(rv, "C_FindObjectsInit");
	rv = t->m->f->C_FindObjects(t->sess, objs, max, count);
	t->m->f->C_FindObjectsFinal(t->sess);
	return ckr_to_err(rv, "C_FindObjects");
}

/* A variable-length attribute, malloc'd (NUL-terminated for convenience). */
static int
token_attr(struct token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
	   unsigned char **val, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = t->m->f->C_GetAttributeValue(t->sess, h, &a, 1);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE)
		return ckr_to_err(rv, "C_GetAttributeValue");
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
		/* absent attributes (no label) are simply empty */
		if ((*val = calloc(1, 1)) == NULL)
			return AIRLOCK_E_NOMEM;
		return 0;
	}
	if (a.ulValueLen > TOKEN_MAX_ATTR)
		return AIRLOCK_E_TOO_LARGE;
	if ((a.pValue = calloc(1, a.ulValueLen + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((rv = t->m->f->C_GetAttributeValue(t->sess, h, &a, 1)) != CKR_OK) {
		free(a.pValue);
		return ckr_to_err(rv, "C_GetAttributeValue");
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

static int
token_bool_attr(struct token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		int *out)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = {type, &b, sizeof(b)};
	CK_RV rv;

	*out = -1;
	rv = t->m->f->C_GetAttributeValue(t->sess, h, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
		return 0;
	if (rv != CKR_OK)
		return ckr_to_err(rv, "C_GetAttributeValue");
	*out = b == CK_TRUE;
	return 0;
}

static void
hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
token_key_find(struct token *t, const struct p11_uri *uri,
	       struct token_key **out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[3];
	CK_OBJECT_HANDLE objs[TOKEN_MAX_OBJECTS];
	CK_ULONG n = 0, count = 0, i;
	struct token_key *k = NULL;
	const unsigned char *id;
	const char *label, *type;
	size_t id_len, used = 0, llen;
	char list[2048] = "";
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	type = uri_get0(uri, "type");
	if (type != NULL && strcmp(type, "private") != 0) {
		err_detail_set("type=%s: a signing key URI needs type=private",
			       type);
		return AIRLOCK_E_INVALID_ARG;
	}
	tmpl[n++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	if ((label = uri_get0(uri, "object")) != NULL)
		tmpl[n++] =
		    (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	if (uri_get0_bytes(uri, "id", &id, &id_len))
		tmpl[n++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
	if ((r = token_find(t, tmpl, n, objs, TOKEN_MAX_OBJECTS, &count)) != 0)
		return r;
	if (count == 0) {
		err_detail_set("no private key on token '%s' (serial %s) "
			       "matches%s; are you logged in, and is the "
			       "object= label right? `airlock-station token "
			       "list --pin-source ...` shows the keys",
			       t->label, t->serial,
			       label != NULL ? " that object label" : "");
		return AIRLOCK_E_KEY_NOT_FOUND;
	}
	for (i = 0; i < count && count > 1; i++) {
		unsigned char *l = NULL, *kid = NULL;
		size_t klen = 0;
		char *u = NULL;
		if (token_attr(t, objs[i], CKA_LABEL, &l, &llen) == 0 &&
		    token_attr(t, objs[i], CKA_ID, &kid, &klen) == 0 &&
		    token_uri_make(t, (char *)l, kid, klen, "private", &u) ==
			0 &&
		    used < sizeof(list)) {
			int w = snprintf(list + used, sizeof(list) - used,
					 "\n  %s", u);
			if (w > 0)
				used += (size_t)w;
		}
		free(l);
		free(kid);
		free(u);
	}
	if (count > 1) {
		err_detail_set("%lu private keys match; name one by id:%s",
			       (unsigned long)count, list);
		return AIRLOCK_E_KEY_AMBIGUOUS;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return AIRLOCK_E_NOMEM;
	k->t = t;
	k->h = objs[0];
	{
		unsigned char *lab = NULL, *kt = NULL;
		size_t ktlen = 0;
		if ((r = token_attr(t, k->h, CKA_LABEL, &lab, &llen)) != 0)
			goto out;
		k->label = (char *)lab;
		if ((r = token_attr(t, k->h, CKA_ID, &k->id, &k->id_len)) != 0)
			goto out;
		if ((r = token_attr(t, k->h, CKA_KEY_TYPE, &kt, &ktlen)) != 0)
			goto out;
		if (ktlen == sizeof(CK_KEY_TYPE))
			memcpy(&k->type, kt, sizeof(CK_KEY_TYPE));
		else
			k->type = (CK_KEY_TYPE)-1;
		free(kt);
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	token_key_free(k);
	return r;
}

const char *
token_key_label(const struct token_key *k)
{
	return k->label;
}

const char *
token_key_id_hex(struct token_key *k)
{
	static _Thread_local char hex[2 * 64 + 1];

	hex_encode(k->id, k->id_len > 64 ? 64 : k->id_len, hex);
	return hex;
}

void
token_key_free(struct token_key *k)
{
	if (k == NULL)
		return;
	free(k->id);
	free(k->label);
	free(k);
}

int
token_key_uri(const struct token_key *k, char **out)
{
	return token_uri_make(k->t, k->label, k->id, k->id_len, "private", out);
}

int
token_key_check_safe(struct token_key *k)
{
	int sensitive, extractable, sign, r;
	char *u = NULL;

	if ((r = token_bool_attr(k->t, k->h, CKA_SENSITIVE, &sensitive)) != 0 ||
	    (r = token_bool_attr(k->t, k->h, CKA_EXTRACTABLE, &extractable)) !=
		0 ||
	    (r = token_bool_attr(k->t, k->h, CKA_SIGN, &sign)) != 0)
		return r;
	if (sensitive == 1 && extractable == 0 && sign == 1)
		return 0;
	if (token_key_uri(k, &u) != 0)
		u = NULL;
	err_detail_set("%s: CKA_SENSITIVE=%s CKA_EXTRACTABLE=%s CKA_SIGN=%s; a "
		       "CA key must be sensitive, never extractable and able "
		       "to sign; generate it with `airlock-station token "
		       "keygen`",
		       u != NULL ? u : k->label,
		       sensitive == 1	? "true"
		       : sensitive == 0 ? "false"
					: "?",
		       extractable == 1	  ? "true"
		       : extractable == 0 ? "false"
					  : "?",
		       sign == 1   ? "true"
		       : sign == 0 ? "false"
				   : "?");
	free(u);
	return AIRLOCK_E_TOKEN_KEY_UNSAFE;
}

/* libp11's view of the slot our token is in. */
static int
token_p11_slot(struct token *t, PKCS11_SLOT **out)
{
	struct token_module *m = t->m;
	unsigned int i;

	*out = NULL;
	if (m->p11_slots == NULL &&
	    PKCS11_enumerate_slots(m->p11, &m->p11_slots, &m->p11_nslots) !=
		0) {
		ERR_clear_error();
		err_detail_set("libp11 could not enumerate the slots");
		return AIRLOCK_E_TOKEN;
	}
	for (i = 0; i < m->p11_nslots; i++) {
		if (m->p11_slots[i].token != NULL &&
		    PKCS11_get_slotid_from_slot(&m->p11_slots[i]) == t->slot) {
			*out = &m->p11_slots[i];
			return 0;
		}
	}
	err_detail_set("libp11 does not see slot %lu", (unsigned long)t->slot);
	return AIRLOCK_E_TOKEN_NOT_FOUND;
}

int
token_key_get1_pkey(struct token_key *k, EVP_PKEY **out)
{
	PKCS11_SLOT *slot = NULL;
	PKCS11_KEY *keys = NULL;
	unsigned int nkeys = 0, i;
	int r;

	*out = NULL;
	if ((r = token_p11_slot(k->t, &slot)) != 0)
		return r;
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0) {
		ERR_clear_error();
		err_detail_set("libp11 could not list the keys on token '%s'",
			       k->t->label);
		return AIRLOCK_E_TOKEN;
	}
	for (i = 0; i < nkeys; i++) {
		if (!keys[i].isPrivate || keys[i].id_len != k->id_len ||
		    (k->id_len > 0 &&
		     memcmp(keys[i].id, k->id, k->id_len) != 0))
			continue;
		if (strcmp(keys[i].label != NULL ? keys[i].label : "",
			   k->label) != 0)
			continue;
		if ((*out = PKCS11_get_private_key(&keys[i])) == NULL) {
			ERR_clear_error();
			err_detail_set("libp11 could not load key '%s'",
				       k->label);
			return AIRLOCK_E_TOKEN;
		}
		return 0;
	}
	err_detail_set("libp11 does not see key '%s' on token '%s'", k->label,
		       k->t->label);
	return AIRLOCK_E_KEY_NOT_FOUND;
}

static const char *
token_key_type_name(CK_KEY_TYPE kt)
{
	switch (kt) {
	case CKK_RSA:
		return "rsa";
	case CKK_EC:
		return "ec";
	default:
		return "other";
	}
}

static void
json_add_bool3(cJSON *o, const char *name, int v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddBoolToObject(o, name, v);
}

int
token_key_describe(struct token_key *k, cJSON **out)
{
	static const struct {
		CK_ATTRIBUTE_TYPE a;
		const char *name;
	} flags[] = {
	    {CKA_TOKEN, "token"},
	    {CKA_PRIVATE, "private"},
	    {CKA_SENSITIVE, "sensitive"},
	    {CKA_EXTRACTABLE, "extractable"},
	    {CKA_ALWAYS_SENSITIVE, "always_sensitive"},
	    {CKA_NEVER_EXTRACTABLE, "never_extractable"},
	    {CKA_SIGN, "sign"},
	    {CKA_DECRYPT, "decrypt"},
	    {CKA_UNWRAP, "unwrap"},
	    {CKA_DERIVE, "derive"},
	};
	cJSON *o = NULL, *f;
	char *u = NULL, idhex[2 * 256 + 1];
	size_t i;
	int v, r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((o = cJSON_CreateObject()) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((r = token_key_uri(k, &u)) != 0)
		goto out;
	cJSON_AddStringToObject(o, "uri", u);
	cJSON_AddStringToObject(o, "label", k->label);
	hex_encode(k->id, k->id_len > 256 ? 256 : k->id_len, idhex);
	cJSON_AddStringToObject(o, "id", idhex);
	cJSON_AddStringToObject(o, "key_type", token_key_type_name(k->type));
	f = cJSON_AddObjectToObject(o, "attributes");
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((r = token_bool_attr(k->t, k->h, flags[i].a, &v)) != 0)
			goto out;
		json_add_bool3(f, flags[i].name, v);
	}
	*out = o;
	o = NULL;
	r = 0;
out:
	free(u);
	cJSON_Delete(o);
	return r;
}

int
token_sign_error(const char *what)
{
	unsigned long e;
	const char *lib;
	int code = 0;

	/* libp11 puts the module's CK_RV on OpenSSL's error queue, under its
	 * own library ("PKCS#11 module"), with the CKR as the reason */
	while ((e = ERR_get_error()) != 0) {
		lib = ERR_lib_error_string(e);
		if (code == 0 && lib != NULL &&
		    strcmp(lib, "PKCS#11 module") == 0)
			code = ckr_to_err((CK_RV)ERR_GET_REASON(e), what);
	}
	if (code != 0)
		return code;
	err_detail_set("%s: the token did not sign (no reason given by the "
		       "module)",
		       what);
	return AIRLOCK_E_TOKEN;
}

int
token_random(struct token *t, unsigned char *buf, size_t len)
{
	CK_RV rv = t->m->f->C_GenerateRandom(t->sess, buf, (CK_ULONG)len);

	return ckr_to_err(rv, "C_GenerateRandom");
}

/* ---- describe -------------------------------------------------------- */

static const struct {
	CK_MECHANISM_TYPE m;
	const char *name;
} token_mechs[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
    {CKM_RSA_PKCS, "CKM_RSA_PKCS"},
    {CKM_RSA_X_509, "CKM_RSA_X_509"},
    {CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"},
    {CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"},
    {CKM_SHA384_RSA_PKCS, "CKM_SHA384_RSA_PKCS"},
    {CKM_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS"},
    {CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS"},
    {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
    {CKM_ECDSA, "CKM_ECDSA"},
    {CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256"},
    {CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384"},
};

static int
token_describe_mechs(struct token_module *m, CK_SLOT_ID slot, cJSON *o)
{
	CK_MECHANISM_TYPE list[512];
	CK_ULONG n = 512, i;
	size_t j;
	cJSON *a;

	if (m->f->C_GetMechanismList(slot, list, &n) != CKR_OK)
		return 0;
	a = cJSON_AddArrayToObject(o, "mechanisms");
	for (j = 0; j < sizeof(token_mechs) / sizeof(token_mechs[0]); j++)
		for (i = 0; i < n; i++)
			if (list[i] == token_mechs[j].m) {
				cJSON_AddItemToArray(
				    a, cJSON_CreateString(token_mechs[j].name));
				break;
			}
	cJSON_AddNumberToObject(o, "mechanism_count", (double)n);
	return 0;
}

static int
token_describe_objects(struct token *t, cJSON *o)
{
	static const struct {
		CK_OBJECT_CLASS c;
		const char *type;
	} classes[] = {
	    {CKO_PRIVATE_KEY, "private"},
	    {CKO_PUBLIC_KEY, "public"},
	    {CKO_CERTIFICATE, "cert"},
	};
	CK_OBJECT_HANDLE objs[TOKEN_MAX_OBJECTS];
	CK_ATTRIBUTE tmpl[1];
	CK_ULONG count, i;
	CK_OBJECT_CLASS cls;
	unsigned char *label = NULL, *id = NULL, *kt = NULL;
	size_t llen, idlen, ktlen, c;
	char *u = NULL, idhex[2 * 256 + 1];
	cJSON *a, *obj;
	int r = 0;

	a = cJSON_AddArrayToObject(o, "objects");
	for (c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
		cls = classes[c].c;
		tmpl[0] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
		if ((r = token_find(t, tmpl, 1, objs, TOKEN_MAX_OBJECTS,
				    &count)) != 0)
			return r;
		for (i = 0; i < count; i++) {
			if ((r = token_attr(t, objs[i], CKA_LABEL, &label,
					    &llen)) != 0 ||
			    (r = token_attr(t, objs[i], CKA_ID, &id, &idlen)) !=
				0 ||
			    (r = token_attr(t, objs[i], CKA_KEY_TYPE, &kt,
					    &ktlen)) != 0 ||
			    (r = token_uri_make(t, (char *)label, id, idlen,
						classes[c].type, &u)) != 0)
				goto out;
			obj = cJSON_CreateObject();
			cJSON_AddStringToObject(obj, "type", classes[c].type);
			cJSON_AddStringToObject(obj, "label", (char *)label);
			hex_encode(id, idlen > 256 ? 256 : idlen, idhex);
			cJSON_AddStringToObject(obj, "id", idhex);
			if (ktlen == sizeof(CK_KEY_TYPE)) {
				CK_KEY_TYPE k;
				memcpy(&k, kt, sizeof(k));
				cJSON_AddStringToObject(obj, "key_type",
							token_key_type_name(k));
			}
			cJSON_AddStringToObject(obj, "uri", u);
			cJSON_AddItemToArray(a, obj);
			free(label);
			free(id);
			free(kt);
			free(u);
			label = id = kt = NULL;
			u = NULL;
		}
	}
out:
	free(label);
	free(id);
	free(kt);
	free(u);
	return r;
}

static cJSON *
token_describe_flags(const CK_TOKEN_INFO *ti)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddBoolToObject(f, "token_initialized",
			      ti->flags & CKF_TOKEN_INITIALIZED);
	cJSON_AddBoolToObject(f, "login_required",
			      ti->flags & CKF_LOGIN_REQUIRED);
	cJSON_AddBoolToObject(f, "user_pin_initialized",
			      ti->flags & CKF_USER_PIN_INITIALIZED);
	cJSON_AddBoolToObject(f, "protected_authentication_path",
			      ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH);
	cJSON_AddBoolToObject(f, "write_protected",
			      ti->flags & CKF_WRITE_PROTECTED);
	cJSON_AddBoolToObject(f, "rng", ti->flags & CKF_RNG);
	cJSON_AddBoolToObject(f, "user_pin_count_low",
			      ti->flags & CKF_USER_PIN_COUNT_LOW);
	cJSON_AddBoolToObject(f, "user_pin_final_try",
			      ti->flags & CKF_USER_PIN_FINAL_TRY);
	cJSON_AddBoolToObject(f, "user_pin_locked",
			      ti->flags & CKF_USER_PIN_LOCKED);
	cJSON_AddBoolToObject(f, "user_pin_to_be_changed",
			      ti->flags & CKF_USER_PIN_TO_BE_CHANGED);
	cJSON_AddBoolToObject(f, "so_pin_locked",
			      ti->flags & CKF_SO_PIN_LOCKED);
	return f;
}

static int
token_describe_one(struct token_module *m, CK_SLOT_ID slot,
		   const struct p11_uri *filter, cJSON *slots)
{
	struct token *t = NULL;
	struct token probe;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	char buf[65], *u = NULL;
	cJSON *o, *tok;
	int r;

	if ((r = token_fill(m, slot, &probe)) != 0)
		return r;
	if (!token_matches(m, &probe, filter))
		return 0;
	if (m->f->C_GetSlotInfo(slot, &si) != CKR_OK ||
	    m->f->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return AIRLOCK_E_TOKEN;
	o = cJSON_CreateObject();
	cJSON_AddItemToArray(slots, o);
	cJSON_AddNumberToObject(o, "slot_id", (double)slot);
	p11_str(buf, si.slotDescription, sizeof(si.slotDescription));
	cJSON_AddStringToObject(o, "description", buf);
	p11_str(buf, si.manufacturerID, sizeof(si.manufacturerID));
	cJSON_AddStringToObject(o, "manufacturer", buf);
	cJSON_AddBoolToObject(o, "removable", si.flags & CKF_REMOVABLE_DEVICE);
	cJSON_AddBoolToObject(o, "hardware", si.flags & CKF_HW_SLOT);
	tok = cJSON_AddObjectToObject(o, "token");
	cJSON_AddStringToObject(tok, "label", probe.label);
	cJSON_AddStringToObject(tok, "manufacturer", probe.manufacturer);
	cJSON_AddStringToObject(tok, "model", probe.model);
	cJSON_AddStringToObject(tok, "serial", probe.serial);
	if ((r = token_uri(&probe, &u)) != 0)
		return r;
	cJSON_AddStringToObject(tok, "uri", u);
	free(u);
	cJSON_AddItemToObject(tok, "flags", token_describe_flags(&ti));
	cJSON_AddNumberToObject(tok, "pin_min_len", (double)ti.ulMinPinLen);
	cJSON_AddNumberToObject(tok, "pin_max_len", (double)ti.ulMaxPinLen);
	(void)token_describe_mechs(m, slot, tok);
	if (!probe.initialized)
		return 0; /* an empty slot (SoftHSM2 keeps one free) */
	/* Objects need a session; what shows depends on the login state. */
	{
		struct p11_uri *sel = NULL;
		char sbuf[32];
		snprintf(sbuf, sizeof(sbuf), "%lu", (unsigned long)slot);
		if ((r = uri_new(&sel)) != 0 ||
		    (r = uri_set1(sel, "slot-id", sbuf, strlen(sbuf))) != 0) {
			uri_free(sel);
			return r;
		}
		r = token_open(m, sel, &t);
		uri_free(sel);
		if (r != 0)
			return r;
		cJSON_AddBoolToObject(tok, "logged_in", token_logged_in(t));
		r = token_describe_objects(t, tok);
		token_close(t);
	}
	return r;
}

int
token_module_describe(struct token_module *m, const struct p11_uri *filter,
		      cJSON **out)
{
	CK_SLOT_ID slots[TOKEN_MAX_SLOTS];
	CK_ULONG n, i;
	cJSON *o = NULL, *mod, *arr;
	char buf[65];
	int r;

	*out = NULL;
	if ((r = token_slots(m, slots, &n)) != 0)
		return r;
	o = cJSON_CreateObject();
	mod = cJSON_AddObjectToObject(o, "module");
	cJSON_AddStringToObject(mod, "path", m->path);
	p11_str(buf, m->info.manufacturerID, sizeof(m->info.manufacturerID));
	cJSON_AddStringToObject(mod, "manufacturer", buf);
	p11_str(buf, m->info.libraryDescription,
		sizeof(m->info.libraryDescription));
	cJSON_AddStringToObject(mod, "description", buf);
	snprintf(buf, sizeof(buf), "%u.%u", m->info.libraryVersion.major,
		 m->info.libraryVersion.minor);
	cJSON_AddStringToObject(mod, "version", buf);
	arr = cJSON_AddArrayToObject(o, "slots");
	for (i = 0; i < n; i++)
		if ((r = token_describe_one(m, slots[i], filter, arr)) != 0) {
			cJSON_Delete(o);
			return r;
		}
	*out = o;
	return 0;
}

/* ---- internal accessors for keygen.c (token_int.h) ------------------- */

CK_FUNCTION_LIST_PTR
token_int_funcs(const struct token *t)
{
	return t->m->f;
}

CK_SLOT_ID
token_int_slot(const struct token *t)
{
	return t->slot;
}

CK_SESSION_HANDLE
token_int_session(const struct token *t)
{
	return t->sess;
}

int
token_int_find(struct token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
	       CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count)
{
	return token_find(t, tmpl, n, objs, max, count);
}
