/*
 * silence.h: silences, as in Prometheus Alertmanager.
 *
 * A silence is a set of label matchers and a time span.  While it is
 * active (starts_ms <= now < ends_ms) every alert whose labels satisfy
 * all its matchers is muted: grouping leaves it out of notifications.
 * Silences are kept in the table `silences` of alertd's database
 * (<storage.path>/alerts.db, the outbox's sqlite handle), so they
 * survive restarts; they expire by themselves when ends_ms passes, and
 * `expire` ends one early.  Expired silences stay listed (with --all)
 * for SILENCE_KEEP_MS, then are deleted when the set is opened.
 *
 * Matchers are written as amtool writes them, one per --match:
 *   name=value    the label equals value
 *   name!=value   the label differs from value
 *   name=~regex   the label's whole value matches the POSIX extended
 *                 regular expression (anchored: "^(regex)$")
 *   name!~regex   the label's whole value does not match
 * A label the alert lacks counts as "" (so name!=x matches it).  The
 * label names "alert" and "detector_id" mean "alertname" and
 * "detector", as in routes (alert_label in alertd.h).
 *
 * Times are passed in (now_ms) so tests drive a fake clock.
 */
#ifndef SN_SILENCE_H
#define SN_SILENCE_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

/* Expired silences are kept this long for `silence list --all`. */
#define SILENCE_KEEP_MS (7LL * 24 * 3600 * 1000)

/* Longest comment, creator, matcher name or value accepted. */
#define SILENCE_MAX_TEXT 1024

/* At most this many matchers in one silence. */
#define SILENCE_MAX_MATCHERS 32

/* A silence id: 32 hex digits (random), NUL-terminated. */
#define SILENCE_ID_LEN 32

enum silence_op {
	SILENCE_EQ,  /* = */
	SILENCE_NE,  /* != */
	SILENCE_RE,  /* =~ */
	SILENCE_NRE, /* !~ */
};

struct silence_matcher {
	char *name;
	char *value; /* as written; the pattern for =~ and !~ */
	enum silence_op op;
	regex_t re; /* compiled for =~ and !~ only */
};

struct silences;

/*
 * Parses one matcher ("severity=critical", "model=~gpt-4.*") into m
 * (free with silence_matcher_free).  0, or -1 with a one-line reason in
 * err (errlen bytes) for the user: no operator, empty name, a name that
 * is not [A-Za-z_][A-Za-z0-9_]*, a regular expression that does not
 * compile, text longer than SILENCE_MAX_TEXT.  The name ends at the
 * first operator; the value is the rest, as is (no quotes are
 * stripped).  On error m is left zeroed, so silence_matcher_free on it
 * is harmless.
 */
int silence_matcher_parse(const char *text, struct silence_matcher *m,
                          char *err, size_t errlen);
void silence_matcher_free(struct silence_matcher *m);

/* The matcher written back as text ("severity=critical"); caller frees. */
char *silence_matcher_text(const struct silence_matcher *m);

/*
 * Opens the silences kept in db (creating the table if needed), loads
 * them and deletes those expired more than SILENCE_KEEP_MS before now.
 * db stays the caller's.  NULL (logged) on error.
 */
struct silences *silences_open(sqlite3 *db, int64_t now_ms);
void silences_free(struct silences *s);

/*
 * Adds a silence of the n matchers in m (1..SILENCE_MAX_MATCHERS; the
 * set takes them over, also on error) from starts_ms until ends_ms,
 * stores it and writes its id into id (SILENCE_ID_LEN + 1 bytes).
 * comment and created_by may be NULL.  0, or -1 (logged) when it could
 * not be stored.
 */
int silences_add(struct silences *s, struct silence_matcher *m, size_t n,
                 int64_t starts_ms, int64_t ends_ms, const char *comment,
                 const char *created_by, int64_t now_ms, char *id);

/*
 * Ends silence id at now_ms.  1 when it was active or pending and is
 * now expired, 0 when there is no such silence or it had expired
 * already, -1 on a storage error.
 */
int silences_expire(struct silences *s, const char *id, int64_t now_ms);

/*
 * The id of an active silence muting an alert with these labels (a JSON
 * object of strings) at now_ms, or NULL when none does.  The id is
 * borrowed from s.  Reads memory only, never the database: it runs for
 * every alert at every group flush.
 */
const char *silences_muting(const struct silences *s, const json_t *labels,
                            int64_t now_ms);

/* How many silences are active at now_ms. */
size_t silences_active(const struct silences *s, int64_t now_ms);

/* The next time after now_ms a silence starts or ends (what it mutes
 * changes then), or -1 when none will. */
int64_t silences_next_change(const struct silences *s, int64_t now_ms);

/*
 * The silences as a JSON array, newest first: {"id", "matchers":
 * ["k=v", ...], "starts_ms", "ends_ms", "created_ms", "created_by",
 * "comment", "state": "active"|"pending"|"expired"}; created_by and
 * comment are null when not given.  all: expired ones too (but not
 * those that ended more than SILENCE_KEEP_MS before now_ms, deleted at
 * the next open), else only active and pending.  New reference.
 */
json_t *silences_json(const struct silences *s, int64_t now_ms, int all);

#endif
