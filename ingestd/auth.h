/*
 * auth.h: the API keys of ingestd's HTTP API (docs/http-api.md,
 * "Authentication").
 *
 * A key is kept only as the SHA-256 of the token: ingestion.http.auth.keys
 * entries give the token (hashed here at load) or its hash, and the keys
 * file gives hashes only, so that file never holds a secret.  A request's
 * token is hashed and compared with every key in constant time
 * (CRYPTO_memcmp, no early exit), so the time taken says nothing about
 * which key, if any, came close.
 *
 * Each key has one scope: sending events (keys, and keys_file lines
 * without scope=query) or the query API (query_keys, scope=query).  An
 * ingest key may be bound to applications: it may then only send events
 * whose application_id is one of them.
 *
 * The table is built whole, from the config and the keys file, at start
 * and on every reload; a reload that finds any problem keeps the old
 * table (auth_load fails, nothing is half-applied).
 */
#ifndef SN_AUTH_H
#define SN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define AUTH_HASH_LEN 32 /* SHA-256 */
/* Largest keys file read; a line per key makes this some 30000 keys. */
#define AUTH_KEYS_FILE_MAX (4u * 1024 * 1024)

/* What a key may do: one bit per key, a set of bits per route. */
enum auth_scope {
	AUTH_SCOPE_INGEST = 1u << 0, /* POST /api/v1/telemetry/events */
	AUTH_SCOPE_QUERY = 1u << 1,  /* GET /api/v1/events ... */
};

struct auth_key {
	uint8_t hash[AUTH_HASH_LEN]; /* SHA-256 of the token */
	char *name;                  /* for logs: its name, or where it is
	                                written ("keys[1]", "keys.txt:4") */
	char **apps;                 /* application_ids it may send */
	size_t napps;                /* 0: any application */
	unsigned scope;              /* one AUTH_SCOPE_* bit */
};

struct auth {
	struct auth_key *keys;
	size_t nkeys;
	size_t ningest, nquery; /* keys of each scope */
};

/*
 * Builds the key table of cfg: its keys and query_keys, and the lines of
 * its keys_file, read now.  cfg_name names the config file in messages.
 * Returns 0 with *out set (NULL when auth is disabled), or -1 with every
 * problem added to errs as "file:line: problem" (a key's value is never
 * part of a message).  Free with auth_free.
 */
int auth_load(const struct sn_http_auth *cfg, const char *cfg_name,
              struct auth **out, struct sn_cfg_errors *errs);
void auth_free(struct auth *a);

/*
 * Adds the keys of a keys file's text to a (name is used in messages).
 * The format, one key per line:
 *
 *   # comment; blank lines are skipped
 *   <sha256 hex> [name=NAME] [applications=APP1,APP2] [scope=ingest|query]
 *
 * Returns the number of problems added to errs (0: all lines good).
 */
size_t auth_parse_keys_file(struct auth *a, const char *name, const char *text,
                            size_t len, struct sn_cfg_errors *errs);

/* out = SHA-256 of len bytes at token. */
void auth_hash(const void *token, size_t len, uint8_t out[AUTH_HASH_LEN]);
/* 1 when the two hashes are equal, compared in constant time. */
int auth_hash_equal(const uint8_t a[AUTH_HASH_LEN],
                    const uint8_t b[AUTH_HASH_LEN]);

/*
 * The key whose token is len bytes at token, or NULL.  Every key is
 * compared, whatever its scope and wherever the match is; the caller
 * checks the scope (so that a valid key on the wrong route is a 403, not
 * a 401).
 */
const struct auth_key *auth_match(const struct auth *a, const char *token,
                                  size_t len);

/* Whether k may send events of application_id app (len bytes). */
bool auth_may_send(const struct auth_key *k, const char *app, size_t len);

/*
 * The token a request presents: "Authorization: Bearer <token>" (scheme
 * in any case), else "X-API-Key: <token>"; either header may be NULL.
 * Returns 0 with *tok and *len set (pointing into the header), or -1 with
 * *why saying what is wrong (no token, another scheme).
 */
int auth_request_token(const char *authorization, const char *x_api_key,
                       const char **tok, size_t *len, const char **why);

#endif
