/*
 * config_int.h: what the config loader's files share and nobody else
 * needs (config.c, config_util.c, config_yaml.c, config_detectors.c,
 * config_alerts.c; the unit tests use it too).
 *
 * Loading one file goes through three passes:
 *
 *   1. config_yaml_parse: libyaml builds a small node tree with a line
 *      per node; syntax errors are reported with libyaml's problem mark.
 *   2. config_yaml_check: the tree is checked against the file's libcyaml
 *      schema, strictly (libcyaml 1.3.1 takes "1.5" for an int and
 *      "maybe" for true), so every unknown key and wrong type is found,
 *      not just the first.
 *   3. config_cyaml_load: libcyaml loads the raw structs; anything it still
 *      rejects is turned from its log lines into "file:line: key: ...".
 *
 * The raw structs are then resolved (defaults, ${VAR}, paths) and
 * validated with a struct cfg_ctx, which knows the file name and its line
 * map so that any message can name "file:line: key".
 */
#ifndef SN_CONFIG_INT_H
#define SN_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cyaml/cyaml.h>

#include "config.h"

/* Node tree of one YAML document -------------------------------------- */

enum cfg_node_type {
	CFG_NODE_SCALAR = 0,
	CFG_NODE_SEQUENCE,
	CFG_NODE_MAPPING,
};

struct cfg_node;

struct cfg_pair {
	char *key;
	unsigned line; /* of the key */
	struct cfg_node *value;
};

struct cfg_node {
	enum cfg_node_type type;
	unsigned line;           /* 1-based */
	char *scalar;            /* CFG_NODE_SCALAR */
	struct cfg_node **items; /* CFG_NODE_SEQUENCE */
	size_t nitems;
	struct cfg_pair *pairs; /* CFG_NODE_MAPPING, in file order */
	size_t npairs;
};

struct cfg_doc {
	struct cfg_node *root; /* NULL for an empty file */
	struct cfg_node **all; /* every node, for freeing (aliases share) */
	size_t nall;
	size_t capall;
};

/*
 * Parses text into doc.  Returns 0, or -1 after adding a
 * "name:line: syntax error: ..." to errs.  doc is always valid for
 * config_yaml_free afterwards.
 */
int config_yaml_parse(const char *name, const char *text, size_t len,
                      struct cfg_doc *doc, struct sn_cfg_errors *errs);
void config_yaml_free(struct cfg_doc *doc);

/*
 * Finds the node at a dotted path ("storage.retention.raw",
 * "detectors[1].config.window").  Returns it or NULL; *line (may be
 * NULL) is set to the line of the deepest part of the path that exists,
 * so a missing key is reported where its parent is.
 */
const struct cfg_node *config_yaml_find(const struct cfg_doc *doc,
                                        const char *path, unsigned *line);

/* True for a scalar libcyaml's POINTER_NULL fields take as absent. */
bool config_yaml_is_null(const struct cfg_node *n);

/* Per-file context for checking and resolving ------------------------- */

struct cfg_ctx {
	const char *name; /* file name used in messages */
	const struct cfg_doc *doc;
	struct sn_cfg_errors *errs;
	const char *dir;     /* relative paths resolve here; NULL: cwd */
	size_t nerrors;      /* errors this file added */
	bool literal_secret; /* a secret given in clear, not as ${VAR} */
	/* Set by every cfg_string: its ${VAR} expansion failed (and was
	 * reported), so the value is not worth checking further. */
	bool env_failed;
};

/* Sorts the messages added since index from by line, so a file's
 * problems read top to bottom whatever order they were found in. */
void cfg_sort_errors(struct cfg_ctx *c, size_t from);

/* Adds "name:line: path: problem", line found from path in the doc. */
void cfg_error(struct cfg_ctx *c, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The same with the line given. */
void cfg_error_at(struct cfg_ctx *c, unsigned line, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Checks the tree against a libcyaml schema: unknown and duplicate keys,
 * mapping/sequence/scalar shape, strict int, float and bool syntax,
 * sequence lengths, missing required keys.  Returns the number of errors
 * added.
 */
size_t config_yaml_check(struct cfg_ctx *c, const cyaml_schema_value_t *schema);

/*
 * Loads text with libcyaml into *out (free with config_cyaml_free).
 * Returns 0, or -1 with libcyaml's complaint added as a message.
 */
int config_cyaml_load(struct cfg_ctx *c, const char *text, size_t len,
                      const cyaml_schema_value_t *schema, void **out);
void config_cyaml_free(const cyaml_schema_value_t *schema, void *data);

/*
 * Turns libcyaml's captured log lines ("Load: Unexpected key: foo",
 * "Load: Backtrace:", "  in mapping field 'x' (line: 5, column: 5)")
 * into one message added through c.  Exposed for the unit tests.
 */
void config_cyaml_report(struct cfg_ctx *c, char **lines, size_t nlines);

/*
 * The whole of passes 1-3 for one file: parse, check, load.  On success
 * returns 0 with *raw set (may be NULL for an empty file) and doc filled;
 * the caller frees both.  On failure returns -1, doc still to be freed.
 */
int config_file_load(struct cfg_ctx *c, struct cfg_doc *doc, const char *text,
                     size_t len, const cyaml_schema_value_t *schema,
                     void **raw);

/* Resolving helpers (config_util.c): each reports its own problems
 * through c. ----------------------------------------------------------- */

/* Copy of raw with ${VAR} expanded, or of def when raw is NULL (def may
 * be NULL, then NULL is returned).  Caller frees. */
char *cfg_string(struct cfg_ctx *c, const char *path, const char *raw,
                 const char *def);
/* Like cfg_string, then resolved against c->dir when it came from the
 * file; a default stays as it is. */
char *cfg_path(struct cfg_ctx *c, const char *path, const char *raw,
               const char *def);
/* Expands each entry of a string sequence into a new NULL-free array. */
void cfg_strings(struct cfg_ctx *c, const char *path, char *const *raw,
                 unsigned n, char ***out, size_t *nout);
/* A duration in ms (def when raw is NULL); positive: 0 is an error. */
int64_t cfg_duration(struct cfg_ctx *c, const char *path, const char *raw,
                     int64_t def, bool positive);
int64_t cfg_int(struct cfg_ctx *c, const char *path, const int64_t *raw,
                int64_t def, int64_t min, int64_t max);
/* Checks s is one of names (NULL-terminated); an error otherwise. */
bool cfg_oneof(struct cfg_ctx *c, const char *path, const char *what,
               const char *s, const char *const *names);
/* snprintf for key paths ("receivers[2].config.url"); a path cut
 * short only makes a message less precise. */
void cfg_pathf(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Frees an array of n strings. */
void cfg_strv_free(char **v, size_t n);

/* Reads a whole file; NULL with errno on failure.  Caller frees. */
char *config_read_file(const char *path, size_t *len, unsigned *mode);

/* config_detectors.c, config_alerts.c: the parsers on a given context. */
int config_detectors_parse_ctx(struct cfg_ctx *c, const char *text, size_t len,
                               struct sn_detectors *out);
int config_alerts_parse_ctx(struct cfg_ctx *c, const char *text, size_t len,
                            struct sn_alerts *out);

/* The seed's detectors.yaml, used when no detectors file is named. */
extern const char config_builtin_detectors[];

#endif
