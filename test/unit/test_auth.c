/*
 * test_auth.c: ingestd's API keys (ingestd/auth.c) and their config
 * keys: the hash, the constant-time comparison, the token a request
 * presents, matching by scope, binding a key to applications, the keys
 * file (format and every kind of mistake, reported as "file:line:
 * problem" and never showing a key), and ingestion.http.auth / .tls in
 * config.yaml reported as "file:line: key: problem".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"
#include "../../ingestd/auth.h"

/* Two keys and their SHA-256, as `printf %s KEY | sha256sum` gives. */
#define KEY_A  "ingest-key-aaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_Q  "query-key-qqqqqqqqqqqqqqqqqqqqqqqqq"
#define SECRET "s3cret-token-that-must-never-be-shown"

/* Hex SHA-256 of s into out (65 bytes). */
static void
hex_sha256(const char *s, char *out)
{
	uint8_t h[AUTH_HASH_LEN];
	size_t i;

	auth_hash(s, strlen(s), h);
	for (i = 0; i < AUTH_HASH_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void
dump_errors(const struct sn_cfg_errors *e)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		print_message("# error: %s\n", e->msgs[i]);
}

/* Asserts some message contains needle. */
static void
assert_error(const struct sn_cfg_errors *e, const char *needle)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		if (strstr(e->msgs[i], needle) != NULL)
			return;
	dump_errors(e);
	fail_msg("no error contains \"%s\"", needle);
}

/* Asserts no message contains s (a secret). */
static void
assert_not_shown(const struct sn_cfg_errors *e, const char *s)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		if (strstr(e->msgs[i], s) != NULL)
			fail_msg("a message shows a key: %s", e->msgs[i]);
}

/* --- hash and comparison ------------------------------------------------- */

static void
test_hash_known_vector(void **state)
{
	char hex[65];

	(void)state;
	hex_sha256("abc", hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	                         "b00361a396177a9cb410ff61f20015ad");
}

static void
test_hash_equal(void **state)
{
	uint8_t a[AUTH_HASH_LEN], b[AUTH_HASH_LEN];

	(void)state;
	auth_hash(KEY_A, strlen(KEY_A), a);
	memcpy(b, a, sizeof(a));
	assert_true(auth_hash_equal(a, b));
	b[AUTH_HASH_LEN - 1] ^= 1; /* the last byte counts */
	assert_false(auth_hash_equal(a, b));
	b[AUTH_HASH_LEN - 1] ^= 1;
	b[0] ^= 0x80; /* and the first */
	assert_false(auth_hash_equal(a, b));
}

/* --- the token of a request -------------------------------------------- */

static void
test_request_token(void **state)
{
	const char *tok, *why;
	size_t len;

	(void)state;
	assert_int_equal(
	        auth_request_token("Bearer abc", NULL, &tok, &len, &why), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(tok, "abc", 3);
	/* scheme in any case, blanks around */
	assert_int_equal(
	        auth_request_token("  bearer \t xyz  ", NULL, &tok, &len, &why),
	        0);
	assert_int_equal(len, 3);
	assert_memory_equal(tok, "xyz", 3);
	assert_int_equal(auth_request_token(NULL, " k-123 ", &tok, &len, &why),
	                 0);
	assert_int_equal(len, 5);
	assert_memory_equal(tok, "k-123", 5);
	/* Bearer wins over X-API-Key */
	assert_int_equal(
	        auth_request_token("Bearer one", "two", &tok, &len, &why), 0);
	assert_memory_equal(tok, "one", 3);
	/* another scheme: X-API-Key still counts, alone it is an error */
	assert_int_equal(auth_request_token("Basic dXNlcjpwYXNz", "two", &tok,
	                                    &len, &why),
	                 0);
	assert_memory_equal(tok, "two", 3);
	assert_int_equal(auth_request_token("Basic dXNlcjpwYXNz", NULL, &tok,
	                                    &len, &why),
	                 -1);
	assert_non_null(strstr(why, "Bearer"));
	assert_int_equal(auth_request_token("Bearer", NULL, &tok, &len, &why),
	                 -1);
	assert_int_equal(
	        auth_request_token("Bearer   ", NULL, &tok, &len, &why), -1);
	assert_int_equal(
	        auth_request_token("Bearerabc", NULL, &tok, &len, &why), -1);
	assert_int_equal(auth_request_token(NULL, "   ", &tok, &len, &why), -1);
	assert_int_equal(auth_request_token(NULL, NULL, &tok, &len, &why), -1);
	assert_non_null(strstr(why, "required"));
}

/* --- the table from config entries --------------------------------------- */

/* An auth config with: KEY_A in clear bound to app-a and app-b, a key
 * given by hash for any application, and KEY_Q as a query key. */
struct fixture {
	struct sn_api_key keys[2];
	struct sn_api_key qkeys[1];
	char *apps[2];
	char hash[65];
	struct sn_http_auth cfg;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->apps[0] = "app-a";
	f->apps[1] = "app-b";
	f->keys[0].key = KEY_A;
	f->keys[0].name = "chat";
	f->keys[0].applications = f->apps;
	f->keys[0].napplications = 2;
	hex_sha256(SECRET, f->hash);
	f->keys[1].key_sha256 = f->hash;
	f->qkeys[0].key = KEY_Q;
	f->cfg.enabled = true;
	f->cfg.keys = f->keys;
	f->cfg.nkeys = 2;
	f->cfg.query_keys = f->qkeys;
	f->cfg.nquery_keys = 1;
}

static void
test_match_and_scope(void **state)
{
	struct sn_cfg_errors errs = {0};
	const struct auth_key *k;
	struct fixture f;
	struct auth *a;

	(void)state;
	fixture_init(&f);
	assert_int_equal(auth_load(&f.cfg, "config.yaml", &a, &errs), 0);
	assert_non_null(a);
	assert_int_equal(a->nkeys, 3);
	assert_int_equal(a->ningest, 2);
	assert_int_equal(a->nquery, 1);

	k = auth_match(a, KEY_A, strlen(KEY_A));
	assert_non_null(k);
	assert_string_equal(k->name, "chat");
	assert_int_equal(k->scope, AUTH_SCOPE_INGEST);
	k = auth_match(a, SECRET, strlen(SECRET)); /* by its hash */
	assert_non_null(k);
	assert_string_equal(k->name, "keys[1]");
	k = auth_match(a, KEY_Q, strlen(KEY_Q));
	assert_non_null(k);
	assert_int_equal(k->scope, AUTH_SCOPE_QUERY);
	assert_string_equal(k->name, "query_keys[0]");

	/* near misses */
	assert_null(auth_match(a, KEY_A, strlen(KEY_A) - 1));
	assert_null(auth_match(a, KEY_A "x", strlen(KEY_A) + 1));
	assert_null(auth_match(a, f.hash, strlen(f.hash))); /* the hash */
	assert_null(auth_match(a, "", 0));
	assert_null(auth_match(NULL, KEY_A, strlen(KEY_A)));
	auth_free(a);
}

static void
test_applications(void **state)
{
	struct sn_cfg_errors errs = {0};
	const struct auth_key *k;
	struct fixture f;
	struct auth *a;

	(void)state;
	fixture_init(&f);
	assert_int_equal(auth_load(&f.cfg, "config.yaml", &a, &errs), 0);
	k = auth_match(a, KEY_A, strlen(KEY_A));
	assert_true(auth_may_send(k, "app-a", 5));
	assert_true(auth_may_send(k, "app-b", 5));
	assert_false(auth_may_send(k, "app-c", 5));
	assert_false(auth_may_send(k, "app-", 4));   /* a prefix */
	assert_false(auth_may_send(k, "app-aa", 6)); /* longer */
	assert_false(auth_may_send(k, "APP-A", 5));  /* exact case */
	k = auth_match(a, SECRET, strlen(SECRET));   /* unbound: any */
	assert_true(auth_may_send(k, "anything", 8));
	assert_true(auth_may_send(NULL, "x", 1)); /* auth off */
	auth_free(a);
}

static void
test_disabled_and_duplicates(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct fixture f;
	struct auth *a;

	(void)state;
	fixture_init(&f);
	f.cfg.enabled = false;
	assert_int_equal(auth_load(&f.cfg, "c.yaml", &a, &errs), 0);
	assert_null(a);
	assert_int_equal(errs.count, 0);

	/* the same token as an ingest key and as a query key */
	fixture_init(&f);
	f.qkeys[0].key = KEY_A;
	assert_int_equal(auth_load(&f.cfg, "c.yaml", &a, &errs), -1);
	assert_null(a);
	assert_error(&errs, "chat and query_keys[0] are the same key");
	assert_not_shown(&errs, KEY_A);
	cfg_errors_free(&errs);

	/* in clear once and by hash once */
	fixture_init(&f);
	f.keys[0].key = SECRET;
	assert_int_equal(auth_load(&f.cfg, "c.yaml", &a, &errs), -1);
	assert_error(&errs, "chat and keys[1] are the same key");
	assert_not_shown(&errs, SECRET);
	cfg_errors_free(&errs);
}

/* --- the keys file ---------------------------------------------------- */

static void
test_keys_file_good(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct auth a = {0};
	const struct auth_key *k;
	char ha[65], hq[65], hs[65], text[1024];
	size_t i;

	(void)state;
	hex_sha256(KEY_A, ha);
	hex_sha256(KEY_Q, hq);
	hex_sha256(SECRET, hs);
	for (i = 0; hs[i] != '\0'; i++) /* upper case is fine too */
		hs[i] = (char)(hs[i] >= 'a' ? hs[i] - 32 : hs[i]);
	snprintf(text, sizeof(text),
	         "# keys for ingestd\n"
	         "\n"
	         "%s name=chat-prod applications=chat,chat-canary\r\n"
	         "   \t\n"
	         "%s scope=query name=grafana   # the dashboards\n"
	         "\t%s\n",
	         ha, hq, hs);
	assert_int_equal(auth_parse_keys_file(&a, "/etc/sentinel/keys.txt",
	                                      text, strlen(text), &errs),
	                 0);
	assert_int_equal(a.nkeys, 3);
	assert_int_equal(a.ningest, 2);
	assert_int_equal(a.nquery, 1);

	k = auth_match(&a, KEY_A, strlen(KEY_A));
	assert_non_null(k);
	assert_string_equal(k->name, "chat-prod");
	assert_int_equal(k->napps, 2);
	assert_true(auth_may_send(k, "chat-canary", 11));
	assert_false(auth_may_send(k, "chat-", 5));
	k = auth_match(&a, KEY_Q, strlen(KEY_Q));
	assert_non_null(k);
	assert_int_equal(k->scope, AUTH_SCOPE_QUERY);
	assert_string_equal(k->name, "grafana");
	k = auth_match(&a, SECRET, strlen(SECRET));
	assert_non_null(k);
	assert_string_equal(k->name, "keys.txt:6"); /* where, unnamed */
	assert_int_equal(k->napps, 0);
	free(a.keys[0].apps[0]);
	free(a.keys[0].apps[1]);
	free(a.keys[0].apps);
	for (i = 0; i < a.nkeys; i++)
		free(a.keys[i].name);
	free(a.keys);
}

/* Parses one line, expecting one error containing needle on line 2. */
static void
expect_line_error(const char *line, const char *needle)
{
	struct sn_cfg_errors errs = {0};
	struct auth *a = sn_xcalloc(1, sizeof(*a));
	char text[2048], where[64];

	snprintf(text, sizeof(text), "# comment\n%s\n", line);
	assert_int_equal(
	        auth_parse_keys_file(a, "keys.txt", text, strlen(text), &errs),
	        1);
	assert_int_equal(errs.count, 1);
	snprintf(where, sizeof(where), "keys.txt:2: ");
	if (strncmp(errs.msgs[0], where, strlen(where)) != 0)
		fail_msg("\"%s\" does not start with %s", errs.msgs[0], where);
	assert_error(&errs, needle);
	assert_not_shown(&errs, SECRET);
	cfg_errors_free(&errs);
	auth_free(a);
}

static void
test_keys_file_errors(void **state)
{
	char h[65], line[512];

	(void)state;
	hex_sha256(KEY_A, h);
	/* a key where its hash belongs: refused, and not repeated */
	expect_line_error(SECRET, "64 hex digits");
	expect_line_error(SECRET " name=x",
	                  "the file holds hashes, never keys");
	/* one digit short, one too many, not hex */
	snprintf(line, sizeof(line), "%.63s", h);
	expect_line_error(line, "64 hex digits");
	snprintf(line, sizeof(line), "%s0", h);
	expect_line_error(line, "64 hex digits");
	snprintf(line, sizeof(line), "%.63sg", h);
	expect_line_error(line, "64 hex digits");

	snprintf(line, sizeof(line), "%s %s", h, SECRET);
	expect_line_error(line, "only name=NAME, applications=APP1,APP2 and "
	                        "scope=ingest|query");
	snprintf(line, sizeof(line), "%s colour=blue", h);
	expect_line_error(line, "only name=NAME");
	snprintf(line, sizeof(line), "%s name=a name=b", h);
	expect_line_error(line, "given twice");
	snprintf(line, sizeof(line), "%s name=", h);
	expect_line_error(line, "name= takes 1 to 64");
	snprintf(line, sizeof(line), "%s scope=admin", h);
	expect_line_error(line, "scope= is ingest");
	snprintf(line, sizeof(line), "%s scope=query applications=a", h);
	expect_line_error(line, "not for scope=query");
	snprintf(line, sizeof(line), "%s applications=a,,b", h);
	expect_line_error(line, "comma-separated list");
	snprintf(line, sizeof(line), "%s applications=a,", h);
	expect_line_error(line, "comma-separated list");
	snprintf(line, sizeof(line), "%s applications=", h);
	expect_line_error(line, "comma-separated list");
	snprintf(line, sizeof(line), "%s a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8", h);
	expect_line_error(line, "too many fields");
}

static void
test_keys_file_all_errors_reported(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct auth *a = sn_xcalloc(1, sizeof(*a));
	char h[65], text[1024];

	(void)state;
	hex_sha256(KEY_A, h);
	snprintf(text, sizeof(text), "nothex\n%s\n%s scope=x\n%s name=ok\n", h,
	         h, h);
	assert_int_equal(
	        auth_parse_keys_file(a, "k", text, strlen(text), &errs), 2);
	assert_error(&errs, "k:1: ");
	assert_error(&errs, "k:3: ");
	cfg_errors_free(&errs);
	auth_free(a);
}

/* Writes text to a temporary file; returns its path (static). */
static const char *
temp_file(const char *text, const char *suffix)
{
	static char path[4][64];
	static int next;
	char *p = path[next++ % 4];
	FILE *f;
	int fd;

	snprintf(p, 64, "/tmp/sn-test-auth-XXXXXX%s", suffix);
	fd = mkstemps(p, (int)strlen(suffix));
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void
test_keys_file_from_disk(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct sn_http_auth cfg = {0};
	struct auth *a;
	char h[65], text[256], *path;

	(void)state;
	hex_sha256(SECRET, h);
	snprintf(text, sizeof(text), "%s name=from-file\n", h);
	path = sn_xstrdup(temp_file(text, ".txt"));
	cfg.enabled = true;
	cfg.keys_file = path;
	assert_int_equal(auth_load(&cfg, "c.yaml", &a, &errs), 0);
	assert_non_null(auth_match(a, SECRET, strlen(SECRET)));
	auth_free(a);

	/* the key removed: revoked on the next load */
	snprintf(text, sizeof(text), "# nobody\n");
	assert_int_equal(truncate(path, 0), 0);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(text, f);
		fclose(f);
	}
	assert_int_equal(auth_load(&cfg, "c.yaml", &a, &errs), 0);
	assert_null(auth_match(a, SECRET, strlen(SECRET)));
	assert_int_equal(a->nkeys, 0);
	auth_free(a);

	/* a broken file fails the whole load, naming file and line */
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fprintf(f, "%s\n%s\n", h, SECRET);
		fclose(f);
	}
	assert_int_equal(auth_load(&cfg, "c.yaml", &a, &errs), -1);
	assert_null(a);
	snprintf(text, sizeof(text), "%s:2: ", path);
	assert_error(&errs, text);
	assert_not_shown(&errs, SECRET);
	cfg_errors_free(&errs);

	unlink(path);
	assert_int_equal(auth_load(&cfg, "c.yaml", &a, &errs), -1);
	assert_error(&errs, "cannot read: No such file or directory");
	cfg_errors_free(&errs);
	free(path);
}

/* --- config.yaml ---------------------------------------------------------- */

/* Loads a config.yaml of text; the config or NULL with errs filled. */
static struct sn_config *
load_yaml(const char *text, struct sn_cfg_errors *errs)
{
	const char *path = temp_file(text, ".yaml");
	struct sn_config *cfg = config_load(path, errs);

	unlink(path);
	return cfg;
}

static void
test_config_good(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;
	char h[65], text[2048];
	const char *cert = temp_file("not read here\n", ".pem");
	const char *keys = temp_file("# none\n", ".txt");

	(void)state;
	hex_sha256(SECRET, h);
	for (size_t i = 0; i < 64; i++) /* upper case is normalised */
		if (h[i] >= 'a')
			h[i] = (char)(h[i] - 32);
	setenv("SN_TEST_INGEST_KEY", KEY_A, 1);
	snprintf(text, sizeof(text),
	         "ingestion:\n"
	         "  http:\n"
	         "    tls:\n"
	         "      enabled: true\n"
	         "      cert_file: %s\n"
	         "      key_file: %s\n"
	         "    auth:\n"
	         "      enabled: true\n"
	         "      keys_file: %s\n"
	         "      keys:\n"
	         "        - key: ${SN_TEST_INGEST_KEY}\n"
	         "          name: chat\n"
	         "          applications: [chat, chat-canary]\n"
	         "        - key_sha256: %s\n"
	         "      query_keys:\n"
	         "        - key: ${SN_TEST_INGEST_KEY}-q\n",
	         cert, cert, keys, h);
	cfg = load_yaml(text, &errs);
	dump_errors(&errs);
	assert_non_null(cfg);
	assert_true(cfg->http.tls.enabled);
	assert_string_equal(cfg->http.tls.cert_file, cert);
	assert_null(cfg->http.tls.client_ca_file);
	assert_true(cfg->http.auth.enabled);
	assert_string_equal(cfg->http.auth.keys_file, keys);
	assert_int_equal(cfg->http.auth.nkeys, 2);
	assert_string_equal(cfg->http.auth.keys[0].key, KEY_A);
	assert_string_equal(cfg->http.auth.keys[0].name, "chat");
	assert_int_equal(cfg->http.auth.keys[0].napplications, 2);
	assert_string_equal(cfg->http.auth.keys[0].applications[1],
	                    "chat-canary");
	assert_int_equal(cfg->http.auth.keys[0].line, 11);
	assert_null(cfg->http.auth.keys[1].key);
	hex_sha256(SECRET, h);
	assert_string_equal(cfg->http.auth.keys[1].key_sha256, h);
	assert_int_equal(cfg->http.auth.nquery_keys, 1);
	assert_string_equal(cfg->http.auth.query_keys[0].key, KEY_A "-q");
	config_free(cfg);

	/* defaults: both off */
	cfg = load_yaml("mode: standalone\n", &errs);
	assert_non_null(cfg);
	assert_false(cfg->http.tls.enabled);
	assert_false(cfg->http.auth.enabled);
	assert_int_equal(cfg->http.auth.nkeys, 0);
	config_free(cfg);
	unlink(cert);
	unlink(keys);
	unsetenv("SN_TEST_INGEST_KEY");
}

static void
test_config_errors(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;

	(void)state;
	cfg = load_yaml("ingestion:\n"                             /* 1 */
	                "  http:\n"                                /* 2 */
	                "    tls:\n"                               /* 3 */
	                "      enabled: true\n"                    /* 4 */
	                "      cert_file: /nonexistent/cert.pem\n" /* 5 */
	                "      key_file: /nonexistent/key.pem\n"   /* 6 */
	                "    auth:\n"                              /* 7 */
	                "      enabled: true\n"                    /* 8 */
	                "      keys:\n"                            /* 9 */
	                "        - key: short-" SECRET "\n"        /* 10 */
	                "          key_sha256: abc\n"              /* 11 */
	                "        - name: nothing\n"                /* 12 */
	                "        - key: tiny\n"                    /* 13 */
	                "        - key_sha256: xyz\n"              /* 14 */
	                "          applications: []\n"             /* 15 */
	                "        - key: with space " SECRET "\n"   /* 16 */
	                "          name: two words\n"              /* 17 */
	                "      query_keys:\n"                      /* 18 */
	                "        - key: query-" SECRET "\n"        /* 19 */
	                "          applications: [a]\n",           /* 20 */
	                &errs);
	assert_null(cfg);
	assert_error(&errs, ":5: ingestion.http.tls.cert_file: cannot read "
	                    "/nonexistent/cert.pem: No such file");
	assert_error(&errs, ":6: ingestion.http.tls.key_file: cannot read");
	assert_error(&errs, ":10: ingestion.http.auth.keys[0]: give key or "
	                    "key_sha256, not both");
	assert_error(&errs, ":11: ingestion.http.auth.keys[0].key_sha256: "
	                    "must be 64 hex digits");
	assert_error(&errs, ":12: ingestion.http.auth.keys[1]: needs key");
	assert_error(&errs, ":13: ingestion.http.auth.keys[2].key: is 4 "
	                    "characters long, at least 16");
	assert_error(&errs, ":15: ingestion.http.auth.keys[3].applications: "
	                    "must list at least one");
	assert_error(&errs, ":16: ingestion.http.auth.keys[4].key: may hold "
	                    "only visible ASCII");
	assert_error(&errs, ":17: ingestion.http.auth.keys[4].name: must be 1 "
	                    "to 64");
	assert_error(&errs, ":20: ingestion.http.auth.query_keys[0]."
	                    "applications: not for query keys");
	assert_not_shown(&errs, SECRET);
	assert_not_shown(&errs, "tiny");
	cfg_errors_free(&errs);

	cfg = load_yaml("ingestion:\n"
	                "  http:\n"
	                "    tls:\n"
	                "      enabled: true\n"
	                "      cert_file: /etc/hostname\n"
	                "    auth:\n"
	                "      enabled: true\n",
	                &errs);
	assert_null(cfg);
	assert_error(&errs, ":3: ingestion.http.tls: enabled needs cert_file "
	                    "and key_file");
	assert_error(&errs, ":6: ingestion.http.auth: enabled needs keys, "
	                    "query_keys or keys_file");
	cfg_errors_free(&errs);

	/* a missing keys file, a folder for a certificate */
	cfg = load_yaml("ingestion:\n"
	                "  http:\n"
	                "    tls:\n"
	                "      enabled: true\n"
	                "      cert_file: /tmp\n"
	                "      key_file: /tmp\n"
	                "    auth:\n"
	                "      enabled: true\n"
	                "      keys_file: /nonexistent/keys.txt\n",
	                &errs);
	assert_null(cfg);
	assert_error(&errs, ":5: ingestion.http.tls.cert_file: /tmp is not a "
	                    "file");
	assert_error(&errs, ":9: ingestion.http.auth.keys_file: cannot read "
	                    "/nonexistent/keys.txt");
	cfg_errors_free(&errs);

	/* disabled: the files are not looked at; unknown keys are errors */
	cfg = load_yaml("ingestion:\n"
	                "  http:\n"
	                "    tls:\n"
	                "      enabled: false\n"
	                "      cert_file: /nonexistent/cert.pem\n"
	                "    auth:\n"
	                "      keys_file: /nonexistent/keys.txt\n",
	                &errs);
	assert_non_null(cfg);
	config_free(cfg);
	cfg = load_yaml("ingestion:\n"
	                "  http:\n"
	                "    auth:\n"
	                "      keys:\n"
	                "        - token: x\n",
	                &errs);
	assert_null(cfg);
	assert_error(&errs, ":5: ingestion.http.auth.keys[0].token: unknown "
	                    "key");
	cfg_errors_free(&errs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash_known_vector),
	        cmocka_unit_test(test_hash_equal),
	        cmocka_unit_test(test_request_token),
	        cmocka_unit_test(test_match_and_scope),
	        cmocka_unit_test(test_applications),
	        cmocka_unit_test(test_disabled_and_duplicates),
	        cmocka_unit_test(test_keys_file_good),
	        cmocka_unit_test(test_keys_file_errors),
	        cmocka_unit_test(test_keys_file_all_errors_reported),
	        cmocka_unit_test(test_keys_file_from_disk),
	        cmocka_unit_test(test_config_good),
	        cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
