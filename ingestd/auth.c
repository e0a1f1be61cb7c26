/*
 * auth.c: the API key table of ingestd's HTTP API (auth.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"
#include "log.h"
#include "util.h"

#define AUTH_APP_ID_MAX 256 /* as an event's application_id */
#define AUTH_NAME_MAX   64
#define AUTH_MAX_FIELDS 8 /* hash and options on one line */
#define AUTH_TOKEN_MAX  4096

void
auth_hash(const void *token, size_t len, uint8_t out[AUTH_HASH_LEN])
{
	unsigned int n = AUTH_HASH_LEN;

	/* Only an allocation failure inside libcrypto could make this
	 * fail; a zero hash then matches nothing (every key's is real). */
	if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, AUTH_HASH_LEN);
}

int
auth_hash_equal(const uint8_t a[AUTH_HASH_LEN], const uint8_t b[AUTH_HASH_LEN])
{
	return CRYPTO_memcmp(a, b, AUTH_HASH_LEN) == 0;
}

const struct auth_key *
auth_match(const struct auth *a, const char *token, size_t len)
{
	const struct auth_key *found = NULL;
	uint8_t h[AUTH_HASH_LEN];
	size_t i;
	int eq;

	if (a == NULL || len == 0)
		return NULL;
	auth_hash(token, len, h);
	/* No early exit: the loop costs the same wherever the key is.  A
	 * token matches at most one key (auth_load refuses duplicates). */
	for (i = 0; i < a->nkeys; i++) {
		eq = auth_hash_equal(h, a->keys[i].hash);
		found = eq ? &a->keys[i] : found;
	}
	OPENSSL_cleanse(h, sizeof(h));
	return found;
}

bool
auth_may_send(const struct auth_key *k, const char *app, size_t len)
{
	size_t i;

	if (k == NULL || k->napps == 0)
		return true;
	for (i = 0; i < k->napps; i++)
		if (strlen(k->apps[i]) == len &&
		    memcmp(k->apps[i], app, len) == 0)
			return true;
	return false;
}

/* Skips spaces and tabs. */
static const char *
auth_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The token in value (leading and trailing blanks aside); -1 if none. */
static int
auth_trim(const char *value, const char **tok, size_t *len)
{
	const char *p = auth_skip_ws(value);
	size_t n = strlen(p);

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return -1;
	*tok = p;
	*len = n;
	return 0;
}

int
auth_request_token(const char *authorization, const char *x_api_key,
                   const char **tok, size_t *len, const char **why)
{
	const char *p;

	if (authorization != NULL) {
		p = auth_skip_ws(authorization);
		if (strncasecmp(p, "Bearer", 6) == 0 &&
		    (p[6] == ' ' || p[6] == '\t')) {
			if (auth_trim(p + 6, tok, len) < 0 ||
			    *len > AUTH_TOKEN_MAX) {
				*why = "the Authorization header holds no key";
				return -1;
			}
			return 0;
		}
		/* Another scheme: X-API-Key may still carry the key. */
		if (x_api_key == NULL) {
			*why = "Authorization must use the Bearer scheme "
			       "(Authorization: Bearer <key>)";
			return -1;
		}
	}
	if (x_api_key != NULL) {
		if (auth_trim(x_api_key, tok, len) < 0 ||
		    *len > AUTH_TOKEN_MAX) {
			*why = "the X-API-Key header holds no key";
			return -1;
		}
		return 0;
	}
	*why = "an API key is required (Authorization: Bearer <key>, or "
	       "X-API-Key: <key>)";
	return -1;
}

/* --- building the table ---------------------------------------------------
 */

/* Adds a key to a and returns it, zeroed but for its scope and name. */
static struct auth_key *
auth_add(struct auth *a, unsigned scope, const char *name)
{
	struct auth_key *v, *k;

	v = reallocarray(a->keys, a->nkeys + 1, sizeof(*a->keys));
	if (v == NULL)
		fatalx("out of memory");
	a->keys = v;
	k = &a->keys[a->nkeys++];
	memset(k, 0, sizeof(*k));
	k->scope = scope;
	k->name = sn_xstrdup(name);
	if (scope == AUTH_SCOPE_QUERY)
		a->nquery++;
	else
		a->ningest++;
	return k;
}

/* Decodes 64 hex digits into out; -1 when s is not that. */
static int
auth_hex_decode(const char *s, size_t n, uint8_t out[AUTH_HASH_LEN])
{
	size_t i;
	int hi, lo;

	if (n != 2 * AUTH_HASH_LEN)
		return -1;
	for (i = 0; i < AUTH_HASH_LEN; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]))
			return -1;
		hi = isdigit((unsigned char)s[2 * i])
		             ? s[2 * i] - '0'
		             : tolower((unsigned char)s[2 * i]) - 'a' + 10;
		lo = isdigit((unsigned char)s[2 * i + 1])
		             ? s[2 * i + 1] - '0'
		             : tolower((unsigned char)s[2 * i + 1]) - 'a' + 10;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Whether s (n bytes) is visible ASCII only. */
static bool
auth_visible(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Splits a comma-separated list of application_ids into k->apps;
 * -1 with *why set when an item is empty or too long. */
static int
auth_set_apps(struct auth_key *k, const char *list, size_t n, const char **why)
{
	const char *p = list, *end = list + n, *comma;
	size_t len;
	bool last = false;

	while (!last) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL) {
			comma = end;
			last = true;
		}
		len = (size_t)(comma - p);
		if (len == 0 || len > AUTH_APP_ID_MAX) {
			*why = "applications= needs a comma-separated list of "
			       "application_ids (1 to 256 bytes each)";
			return -1;
		}
		k->apps = reallocarray(k->apps, k->napps + 1, sizeof(*k->apps));
		if (k->apps == NULL)
			fatalx("out of memory");
		k->apps[k->napps] = sn_xmalloc(len + 1);
		memcpy(k->apps[k->napps], p, len);
		k->apps[k->napps++][len] = '\0';
		if (!last)
			p = comma + 1;
	}
	return 0;
}

/* A line's fields: hash first, then name=, applications=, scope=. */
struct auth_line {
	const char *f[AUTH_MAX_FIELDS];
	size_t flen[AUTH_MAX_FIELDS];
	size_t n;
};

/* Splits line (len bytes, no newline) into blank-separated fields up to
 * a field starting with '#'.  -1 when there are too many. */
static int
auth_split(const char *line, size_t len, struct auth_line *out)
{
	size_t i = 0, start;

	out->n = 0;
	while (i < len) {
		while (i < len &&
		       (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
			i++;
		if (i == len || line[i] == '#')
			break;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' &&
		       line[i] != '\r')
			i++;
		if (out->n == AUTH_MAX_FIELDS)
			return -1;
		out->f[out->n] = line + start;
		out->flen[out->n++] = i - start;
	}
	return 0;
}

/* Whether field f (n bytes) is "opt=..."; *val then follows the '='. */
static bool
auth_opt(const char *f, size_t n, const char *opt, const char **val,
         size_t *vlen)
{
	size_t ol = strlen(opt);

	if (n <= ol || memcmp(f, opt, ol) != 0 || f[ol] != '=')
		return false;
	*val = f + ol + 1;
	*vlen = n - ol - 1;
	return true;
}

/*
 * One line of a keys file (its fields in l) into a key of a.  Returns 0,
 * or -1 with *why set.  Nothing of a field is put in a message: a line
 * may hold a key pasted by mistake where its hash belongs.
 */
static int
auth_parse_line(struct auth *a, const char *name, unsigned lineno,
                const struct auth_line *l, const char **why)
{
	const char *kname = NULL, *apps = NULL, *scope = NULL, *v;
	size_t knlen = 0, appslen = 0, scopelen = 0, vlen, i;
	uint8_t hash[AUTH_HASH_LEN];
	unsigned sc = AUTH_SCOPE_INGEST;
	struct auth_key *k;
	char where[300];

	if (auth_hex_decode(l->f[0], l->flen[0], hash) < 0) {
		*why = "a line starts with the SHA-256 of a key, 64 hex digits "
		       "(printf %s \"$KEY\" | sha256sum): the file holds "
		       "hashes, never keys";
		return -1;
	}
	for (i = 1; i < l->n; i++) {
		if (auth_opt(l->f[i], l->flen[i], "name", &v, &vlen)) {
			if (kname != NULL)
				goto twice;
			kname = v;
			knlen = vlen;
		} else if (auth_opt(l->f[i], l->flen[i], "applications", &v,
		                    &vlen)) {
			if (apps != NULL)
				goto twice;
			apps = v;
			appslen = vlen;
		} else if (auth_opt(l->f[i], l->flen[i], "scope", &v, &vlen)) {
			if (scope != NULL)
				goto twice;
			scope = v;
			scopelen = vlen;
		} else {
			*why = "after the hash come only name=NAME, "
			       "applications=APP1,APP2 and scope=ingest|query";
			return -1;
		}
	}
	if (scope != NULL) {
		if (scopelen == 6 && memcmp(scope, "ingest", 6) == 0)
			sc = AUTH_SCOPE_INGEST;
		else if (scopelen == 5 && memcmp(scope, "query", 5) == 0)
			sc = AUTH_SCOPE_QUERY;
		else {
			*why = "scope= is ingest (send events, the default) or "
			       "query (the query API)";
			return -1;
		}
	}
	if (kname != NULL && (knlen == 0 || knlen > AUTH_NAME_MAX ||
	                      !auth_visible(kname, knlen))) {
		*why = "name= takes 1 to 64 visible ASCII characters";
		return -1;
	}
	if (apps != NULL && sc == AUTH_SCOPE_QUERY) {
		*why = "applications= is not for scope=query: a query key "
		       "reads every application";
		return -1;
	}
	if (kname != NULL)
		snprintf(where, sizeof(where), "%.*s", (int)knlen, kname);
	else /* where it is written: "keys.txt:4" */
		snprintf(where, sizeof(where), "%s:%u",
		         strrchr(name, '/') ? strrchr(name, '/') + 1 : name,
		         lineno);
	k = auth_add(a, sc, where);
	memcpy(k->hash, hash, sizeof(hash));
	if (apps != NULL && auth_set_apps(k, apps, appslen, why) < 0)
		return -1; /* the table is thrown away: the load failed */
	return 0;
twice:
	*why = "an option is given twice";
	return -1;
}

size_t
auth_parse_keys_file(struct auth *a, const char *name, const char *text,
                     size_t len, struct sn_cfg_errors *errs)
{
	const char *p = text, *end = text + len, *nl;
	struct auth_line l;
	const char *why;
	unsigned lineno = 0;
	size_t bad = 0;

	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			cfg_errors_add(errs,
			               "%s:%u: a NUL byte: not a text "
			               "file",
			               name, lineno);
			bad++;
		} else if (auth_split(p, (size_t)(nl - p), &l) < 0) {
			cfg_errors_add(errs,
			               "%s:%u: too many fields (a hash, "
			               "then name=, applications=, scope=)",
			               name, lineno);
			bad++;
		} else if (l.n > 0 &&
		           auth_parse_line(a, name, lineno, &l, &why) < 0) {
			cfg_errors_add(errs, "%s:%u: %s", name, lineno, why);
			bad++;
		}
		p = nl + 1;
	}
	return bad;
}

/* Reads the keys file at path into a; the number of problems added. */
static size_t
auth_read_keys_file(struct auth *a, const char *path,
                    struct sn_cfg_errors *errs)
{
	struct sn_buf b = {0};
	struct stat st;
	char chunk[8192];
	ssize_t n;
	size_t bad;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		cfg_errors_add(errs, "%s: cannot read: %s", path,
		               strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cfg_errors_add(errs, "%s: not a file", path);
		close(fd);
		return 1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len + (size_t)n > AUTH_KEYS_FILE_MAX) {
			n = -1;
			errno = EFBIG;
			break;
		}
		sn_buf_append(&b, chunk, (size_t)n);
	}
	close(fd);
	if (n < 0) {
		cfg_errors_add(errs, "%s: cannot read: %s", path,
		               errno == EFBIG ? "larger than 4 MiB"
		                              : strerror(errno));
		sn_buf_free(&b);
		return 1;
	}
	bad = auth_parse_keys_file(a, path, (const char *)b.data, b.len, errs);
	sn_buf_free(&b);
	return bad;
}

/* The keys of one config list into a; the number of problems. */
static size_t
auth_add_config_keys(struct auth *a, const struct sn_api_key *keys, size_t n,
                     unsigned scope, const char *list, const char *cfg_name,
                     struct sn_cfg_errors *errs)
{
	struct auth_key *k;
	char where[64];
	size_t i, j, bad = 0;

	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s[%zu]", list, i);
		k = auth_add(a, scope, keys[i].name ? keys[i].name : where);
		if (keys[i].key != NULL)
			auth_hash(keys[i].key, strlen(keys[i].key), k->hash);
		else if (keys[i].key_sha256 == NULL ||
		         auth_hex_decode(keys[i].key_sha256,
		                         strlen(keys[i].key_sha256),
		                         k->hash) < 0) {
			/* config.c checked this; only a hand-made struct
			 * gets here */
			cfg_errors_add(
			        errs,
			        "%s:%u: ingestion.http.auth.%s: no valid "
			        "key or key_sha256",
			        cfg_name, keys[i].line, where);
			bad++;
		}
		for (j = 0; j < keys[i].napplications; j++) {
			k->apps = reallocarray(k->apps, k->napps + 1,
			                       sizeof(*k->apps));
			if (k->apps == NULL)
				fatalx("out of memory");
			k->apps[k->napps++] =
			        sn_xstrdup(keys[i].applications[j]);
		}
	}
	return bad;
}

/* Finds two keys with the same hash: a token must name one key, with
 * one scope and one set of applications.  The number found. */
static size_t
auth_find_duplicates(const struct auth *a, struct sn_cfg_errors *errs)
{
	size_t i, j, bad = 0;

	for (i = 0; i < a->nkeys; i++)
		for (j = i + 1; j < a->nkeys; j++)
			if (auth_hash_equal(a->keys[i].hash, a->keys[j].hash)) {
				cfg_errors_add(
				        errs,
				        "ingestion.http.auth: %s and %s are "
				        "the same key; list each key once",
				        a->keys[i].name, a->keys[j].name);
				bad++;
			}
	return bad;
}

int
auth_load(const struct sn_http_auth *cfg, const char *cfg_name,
          struct auth **out, struct sn_cfg_errors *errs)
{
	struct auth *a;
	size_t bad = 0;

	*out = NULL;
	if (!cfg->enabled)
		return 0;
	if (cfg_name == NULL)
		cfg_name = "config";
	a = sn_xcalloc(1, sizeof(*a));
	bad += auth_add_config_keys(a, cfg->keys, cfg->nkeys, AUTH_SCOPE_INGEST,
	                            "keys", cfg_name, errs);
	bad += auth_add_config_keys(a, cfg->query_keys, cfg->nquery_keys,
	                            AUTH_SCOPE_QUERY, "query_keys", cfg_name,
	                            errs);
	if (cfg->keys_file != NULL)
		bad += auth_read_keys_file(a, cfg->keys_file, errs);
	if (bad == 0)
		bad += auth_find_duplicates(a, errs);
	if (bad > 0) {
		auth_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

void
auth_free(struct auth *a)
{
	size_t i, j;

	if (a == NULL)
		return;
	for (i = 0; i < a->nkeys; i++) {
		free(a->keys[i].name);
		for (j = 0; j < a->keys[i].napps; j++)
			free(a->keys[i].apps[j]);
		free(a->keys[i].apps);
	}
	free(a->keys);
	free(a);
}
