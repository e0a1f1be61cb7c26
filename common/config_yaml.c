/*
 * config_yaml.c: the YAML side of the config loader.
 *
 * libcyaml 1.3.1 stops at the first problem, never names the file and
 * takes "1.5" for an integer and "maybe" for true.  So before libcyaml
 * sees a file we parse it ourselves with libyaml into a small node tree
 * that remembers a line per node, and check that tree against the very
 * same CYAML_FIELD_* schema, strictly and to the end.  The tree is also
 * the path -> line map every later message uses, and it carries the one
 * thing a schema cannot express: alerts.yaml's match, a mapping with any
 * label names as keys.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "config_int.h"
#include "log.h"
#include "util.h"

#define CFG_MAX_DEPTH 64 /* deeper nesting is an error, not a stack crash */
#define CFG_PATH_MAX  512

/* Node tree ------------------------------------------------------------ */

static struct cfg_node *
yaml_node_new(struct cfg_doc *doc, enum cfg_node_type type, unsigned line)
{
	struct cfg_node *n = sn_xcalloc(1, sizeof(*n));

	if (doc->nall == doc->capall) {
		doc->capall = doc->capall ? doc->capall * 2 : 32;
		doc->all = realloc(doc->all, doc->capall * sizeof(*doc->all));
		if (doc->all == NULL)
			fatalx("out of memory");
	}
	doc->all[doc->nall++] = n;
	n->type = type;
	n->line = line;
	return n;
}

void
config_yaml_free(struct cfg_doc *doc)
{
	size_t i, j;
	struct cfg_node *n;

	for (i = 0; i < doc->nall; i++) {
		n = doc->all[i];
		free(n->scalar);
		free(n->items);
		for (j = 0; j < n->npairs; j++)
			free(n->pairs[j].key);
		free(n->pairs);
		free(n);
	}
	free(doc->all);
	memset(doc, 0, sizeof(*doc));
}

struct yaml_reader {
	const char *name;
	yaml_parser_t parser;
	struct cfg_doc *doc;
	struct sn_cfg_errors *errs;
	int failed;
};

/* Reports libyaml's own problem (a syntax error) once. */
static void
yaml_syntax_error(struct yaml_reader *r)
{
	yaml_parser_t *p = &r->parser;
	const char *problem = p->problem ? p->problem : "cannot parse";

	if (r->failed)
		return;
	r->failed = 1;
	if (p->context != NULL)
		cfg_errors_add(r->errs,
		               "%s:%zu: syntax error: %s (%s that starts on "
		               "line %zu)",
		               r->name, p->problem_mark.line + 1, problem,
		               p->context, p->context_mark.line + 1);
	else
		cfg_errors_add(r->errs, "%s:%zu: syntax error: %s", r->name,
		               p->problem_mark.line + 1, problem);
}

static void
yaml_error(struct yaml_reader *r, size_t line0, const char *problem)
{
	if (r->failed)
		return;
	r->failed = 1;
	cfg_errors_add(r->errs, "%s:%zu: %s", r->name, line0 + 1, problem);
}

static int
yaml_next(struct yaml_reader *r, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&r->parser, ev)) {
		yaml_syntax_error(r);
		return -1;
	}
	return 0;
}

static struct cfg_node *yaml_read_node(struct yaml_reader *r, yaml_event_t *ev,
                                       int depth);

/* Reads the rest of a sequence whose start event was just seen. */
static struct cfg_node *
yaml_read_sequence(struct yaml_reader *r, struct cfg_node *n, int depth)
{
	yaml_event_t ev;
	struct cfg_node *item;
	size_t cap = 0;

	for (;;) {
		if (yaml_next(r, &ev) < 0)
			return NULL;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return n;
		}
		item = yaml_read_node(r, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (item == NULL)
			return NULL;
		if (n->nitems == cap) {
			cap = cap ? cap * 2 : 4;
			n->items = realloc(n->items, cap * sizeof(*n->items));
			if (n->items == NULL)
				fatalx("out of memory");
		}
		n->items[n->nitems++] = item;
	}
}

/* Reads the rest of a mapping whose start event was just seen. */
static struct cfg_node *
yaml_read_mapping(struct yaml_reader *r, struct cfg_node *n, int depth)
{
	yaml_event_t ev;
	struct cfg_node *value;
	struct cfg_pair *pair;
	size_t cap = 0;

	for (;;) {
		if (yaml_next(r, &ev) < 0)
			return NULL;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return n;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_error(r, ev.start_mark.line,
			           "mapping keys must be plain strings");
			yaml_event_delete(&ev);
			return NULL;
		}
		if (n->npairs == cap) {
			cap = cap ? cap * 2 : 8;
			n->pairs = realloc(n->pairs, cap * sizeof(*n->pairs));
			if (n->pairs == NULL)
				fatalx("out of memory");
		}
		pair = &n->pairs[n->npairs++];
		pair->key = sn_xstrdup((const char *)ev.data.scalar.value);
		pair->line = (unsigned)ev.start_mark.line + 1;
		pair->value = NULL;
		yaml_event_delete(&ev);
		if (yaml_next(r, &ev) < 0)
			return NULL;
		value = yaml_read_node(r, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (value == NULL)
			return NULL;
		pair->value = value;
	}
}

/*
 * Builds the node that starts with ev (not freed here).  Returns NULL
 * after reporting a problem.
 */
static struct cfg_node *
yaml_read_node(struct yaml_reader *r, yaml_event_t *ev, int depth)
{
	struct cfg_node *n;
	unsigned line = (unsigned)ev->start_mark.line + 1;

	if (depth > CFG_MAX_DEPTH) {
		yaml_error(r, ev->start_mark.line, "nesting is too deep");
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = yaml_node_new(r->doc, CFG_NODE_SCALAR, line);
		n->scalar = sn_xmalloc(ev->data.scalar.length + 1);
		memcpy(n->scalar, ev->data.scalar.value,
		       ev->data.scalar.length);
		n->scalar[ev->data.scalar.length] = '\0';
		if (strlen(n->scalar) != ev->data.scalar.length) {
			yaml_error(r, ev->start_mark.line,
			           "a NUL character in a value");
			return NULL;
		}
		return n;
	case YAML_SEQUENCE_START_EVENT:
		n = yaml_node_new(r->doc, CFG_NODE_SEQUENCE, line);
		return yaml_read_sequence(r, n, depth);
	case YAML_MAPPING_START_EVENT:
		n = yaml_node_new(r->doc, CFG_NODE_MAPPING, line);
		return yaml_read_mapping(r, n, depth);
	case YAML_ALIAS_EVENT:
		/* Aliases would let a small file expand without bound. */
		yaml_error(r, ev->start_mark.line,
		           "YAML aliases (*name) are not supported");
		return NULL;
	default:
		yaml_error(r, ev->start_mark.line, "unexpected YAML event");
		return NULL;
	}
}

int
config_yaml_parse(const char *name, const char *text, size_t len,
                  struct cfg_doc *doc, struct sn_cfg_errors *errs)
{
	struct yaml_reader r;
	yaml_event_t ev;
	int ndocs = 0, done = 0;

	memset(doc, 0, sizeof(*doc));
	memset(&r, 0, sizeof(r));
	r.name = name;
	r.doc = doc;
	r.errs = errs;
	if (!yaml_parser_initialize(&r.parser))
		fatalx("yaml_parser_initialize failed");
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)text,
	                             len);
	while (!done && !r.failed) {
		if (yaml_next(&r, &ev) < 0)
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1)
				yaml_error(&r, ev.start_mark.line,
				           "only one YAML document is allowed "
				           "in a file");
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_ALIAS_EVENT:
			doc->root = yaml_read_node(&r, &ev, 0);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&r.parser);
	if (r.failed) {
		doc->root = NULL;
		return -1;
	}
	/* A file holding only "---" or comments is an empty mapping. */
	if (doc->root != NULL && config_yaml_is_null(doc->root))
		doc->root = NULL;
	return 0;
}

bool
config_yaml_is_null(const struct cfg_node *n)
{
	/* libcyaml's POINTER_NULL takes only an empty scalar as null. */
	return n->type == CFG_NODE_SCALAR && n->scalar[0] == '\0';
}

/* Path lookup ---------------------------------------------------------- */

const struct cfg_node *
config_yaml_find(const struct cfg_doc *doc, const char *path, unsigned *line)
{
	const struct cfg_node *n = doc->root;
	const char *p = path;
	size_t i, klen, best;
	unsigned long idx;
	char *end;
	unsigned at = n ? n->line : 1;

	while (n != NULL && *p != '\0') {
		if (*p == '[') {
			idx = strtoul(p + 1, &end, 10);
			if (end == p + 1 || *end != ']' ||
			    n->type != CFG_NODE_SEQUENCE || idx >= n->nitems) {
				n = NULL;
				break;
			}
			n = n->items[idx];
			at = n->line;
			p = end + 1;
		} else {
			if (n->type != CFG_NODE_MAPPING) {
				n = NULL;
				break;
			}
			/* Longest key that matches, so that a label name
			 * holding dots ("app.kubernetes.io/name") is found. */
			best = n->npairs;
			klen = 0;
			for (i = 0; i < n->npairs; i++) {
				size_t l = strlen(n->pairs[i].key);

				if (strncmp(p, n->pairs[i].key, l) == 0 &&
				    (p[l] == '\0' || p[l] == '.' ||
				     p[l] == '[') &&
				    (best == n->npairs || l > klen)) {
					best = i;
					klen = l;
				}
			}
			if (best == n->npairs) {
				n = NULL;
				break;
			}
			at = n->pairs[best].line;
			n = n->pairs[best].value;
			p += klen;
		}
		if (*p == '.')
			p++;
	}
	if (line != NULL)
		*line = at;
	return n;
}

/* Messages ------------------------------------------------------------- */

static void
cfg_verror(struct cfg_ctx *c, unsigned line, const char *path, const char *fmt,
           va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		fatalx("out of memory");
	if (path != NULL && *path != '\0')
		cfg_errors_add(c->errs, "%s:%u: %s: %s", c->name, line, path,
		               msg);
	else
		cfg_errors_add(c->errs, "%s:%u: %s", c->name, line, msg);
	free(msg);
	c->nerrors++;
}

void
cfg_error(struct cfg_ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	unsigned line = 1;

	if (c->doc != NULL)
		config_yaml_find(c->doc, path, &line);
	va_start(ap, fmt);
	cfg_verror(c, line, path, fmt, ap);
	va_end(ap);
}

void
cfg_error_at(struct cfg_ctx *c, unsigned line, const char *path,
             const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror(c, line, path, fmt, ap);
	va_end(ap);
}

/* The line of a "name:line: ..." message of file name, 0 if another's. */
static unsigned long
cfg_msg_line(const char *msg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(msg, name, n) != 0 || msg[n] != ':')
		return 0;
	return strtoul(msg + n + 1, NULL, 10);
}

void
cfg_sort_errors(struct cfg_ctx *c, size_t from)
{
	char **v = c->errs->msgs, *m;
	size_t i, j;

	/* Insertion sort: stable, and the lists are short. */
	for (i = from + 1; i < c->errs->count; i++) {
		m = v[i];
		for (j = i; j > from && cfg_msg_line(v[j - 1], c->name) >
		                                cfg_msg_line(m, c->name);
		     j--)
			v[j] = v[j - 1];
		v[j] = m;
	}
}

/* Schema check --------------------------------------------------------- */

static const char *
yaml_node_kind(const struct cfg_node *n)
{
	switch (n->type) {
	case CFG_NODE_MAPPING:
		return "a mapping";
	case CFG_NODE_SEQUENCE:
		return "a list";
	default:
		return "a scalar";
	}
}

static bool
yaml_is_int(const char *s)
{
	char *end;
	long long v;

	if (*s == '+' || *s == '-')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	/* libcyaml reads with base 0: "010" would be 8 and "08080" 0. */
	if (s[0] == '0' && s[1] != '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	(void)v;
	return *end == '\0' && errno == 0;
}

static bool
yaml_is_float(const char *s)
{
	char *end;
	double v;

	if (*s == '\0' || *s == ' ' || *s == '\t')
		return false;
	errno = 0;
	v = strtod(s, &end);
	(void)v;
	/* No "inf", "nan" or hex floats: a threshold is a plain number. */
	if (strpbrk(s, "iInNxX") != NULL)
		return false;
	return *end == '\0' && errno == 0;
}

static bool
yaml_is_bool(const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no",
	                                    "on",   "off",   NULL};
	size_t i;

	for (i = 0; words[i] != NULL; i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

static void yaml_check_value(struct cfg_ctx *c, const struct cfg_node *n,
                             unsigned line, const cyaml_schema_value_t *s,
                             char *path, size_t plen);

/* Appends a segment to path in place; path holds CFG_PATH_MAX bytes. */
static void
yaml_path_push(char *path, size_t plen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (plen < CFG_PATH_MAX)
		vsnprintf(path + plen, CFG_PATH_MAX - plen, fmt, ap);
	va_end(ap);
}

static void
yaml_check_mapping(struct cfg_ctx *c, const struct cfg_node *n,
                   const cyaml_schema_value_t *s, char *path, size_t plen)
{
	const cyaml_schema_field_t *f;
	size_t i, j;

	for (i = 0; i < n->npairs; i++) {
		const struct cfg_pair *pr = &n->pairs[i];

		yaml_path_push(path, plen, plen ? ".%s" : "%s", pr->key);
		for (j = 0; j < i; j++)
			if (strcmp(n->pairs[j].key, pr->key) == 0)
				break;
		if (j < i) {
			cfg_error_at(c, pr->line, path,
			             "duplicate key (first given on line %u)",
			             n->pairs[j].line);
			path[plen] = '\0';
			continue;
		}
		for (f = s->mapping.fields; f->key != NULL; f++)
			if (strcmp(f->key, pr->key) == 0)
				break;
		if (f->key == NULL)
			cfg_error_at(c, pr->line, path, "unknown key");
		else if (f->value.type != CYAML_IGNORE)
			yaml_check_value(c, pr->value, pr->line, &f->value,
			                 path, strlen(path));
		path[plen] = '\0';
	}
	for (f = s->mapping.fields; f->key != NULL; f++) {
		if (f->value.flags & CYAML_FLAG_OPTIONAL)
			continue;
		for (j = 0; j < n->npairs; j++)
			if (strcmp(n->pairs[j].key, f->key) == 0)
				break;
		if (j == n->npairs) {
			yaml_path_push(path, plen, plen ? ".%s" : "%s", f->key);
			cfg_error_at(c, n->line, path, "missing (required)");
			path[plen] = '\0';
		}
	}
}

/*
 * Checks node n (whose key, or the item itself, is on line) against
 * schema s.  Problems of shape are reported on line, so "mode:" above a
 * list is named rather than the list's first item.
 */
static void
yaml_check_value(struct cfg_ctx *c, const struct cfg_node *n, unsigned line,
                 const cyaml_schema_value_t *s, char *path, size_t plen)
{
	size_t i;

	if (config_yaml_is_null(n) && (s->flags & CYAML_FLAG_POINTER_NULL))
		return;
	switch (s->type) {
	case CYAML_MAPPING:
		if (n->type != CFG_NODE_MAPPING) {
			cfg_error_at(c, line, path,
			             "expected a mapping (key: value lines), "
			             "found %s",
			             yaml_node_kind(n));
			return;
		}
		yaml_check_mapping(c, n, s, path, plen);
		return;
	case CYAML_SEQUENCE:
	case CYAML_SEQUENCE_FIXED:
		if (n->type != CFG_NODE_SEQUENCE) {
			cfg_error_at(c, line, path, "expected a list, found %s",
			             yaml_node_kind(n));
			return;
		}
		if (n->nitems < s->sequence.min)
			cfg_error_at(c, line, path, "needs at least %u entries",
			             (unsigned)s->sequence.min);
		if (s->sequence.max != CYAML_UNLIMITED &&
		    n->nitems > s->sequence.max)
			cfg_error_at(c, line, path, "allows at most %u entries",
			             (unsigned)s->sequence.max);
		for (i = 0; i < n->nitems; i++) {
			yaml_path_push(path, plen, "[%zu]", i);
			yaml_check_value(c, n->items[i], n->items[i]->line,
			                 s->sequence.entry, path, strlen(path));
			path[plen] = '\0';
		}
		return;
	case CYAML_IGNORE:
		return;
	default:
		break;
	}
	/* Every other type is a scalar. */
	if (n->type != CFG_NODE_SCALAR) {
		cfg_error_at(c, line, path, "expected %s, found %s",
		             s->type == CYAML_STRING ? "a string"
		             : s->type == CYAML_BOOL ? "true or false"
		                                     : "a number",
		             yaml_node_kind(n));
		return;
	}
	switch (s->type) {
	case CYAML_INT:
	case CYAML_UINT:
		if (!yaml_is_int(n->scalar) ||
		    (s->type == CYAML_UINT && n->scalar[0] == '-'))
			cfg_error_at(c, line, path,
			             "expected an integer, found \"%s\"",
			             n->scalar);
		break;
	case CYAML_FLOAT:
		if (!yaml_is_float(n->scalar))
			cfg_error_at(c, line, path,
			             "expected a number, found \"%s\"",
			             n->scalar);
		break;
	case CYAML_BOOL:
		if (!yaml_is_bool(n->scalar))
			cfg_error_at(c, line, path,
			             "expected true or false, found \"%s\"",
			             n->scalar);
		break;
	default:
		break;
	}
}

size_t
config_yaml_check(struct cfg_ctx *c, const cyaml_schema_value_t *schema)
{
	char path[CFG_PATH_MAX] = "";
	size_t before = c->nerrors;

	if (c->doc->root == NULL)
		return 0;
	if (c->doc->root->type != CFG_NODE_MAPPING) {
		cfg_error_at(c, c->doc->root->line, NULL,
		             "expected a mapping (key: value lines) at the top "
		             "level, found %s",
		             yaml_node_kind(c->doc->root));
		return c->nerrors - before;
	}
	yaml_check_mapping(c, c->doc->root, schema, path, 0);
	return c->nerrors - before;
}

/* libcyaml ------------------------------------------------------------- */

struct cyaml_capture {
	char **lines;
	size_t n;
};

/* libcyaml log function: keeps each line for config_cyaml_report. */
static void
cyaml_capture_log(cyaml_log_t level, void *ctx, const char *fmt, va_list ap)
{
	struct cyaml_capture *cap = ctx;
	char *line;
	size_t len;

	(void)level;
	if (vasprintf(&line, fmt, ap) < 0)
		fatalx("out of memory");
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	cap->lines = realloc(cap->lines, (cap->n + 1) * sizeof(*cap->lines));
	if (cap->lines == NULL)
		fatalx("out of memory");
	cap->lines[cap->n++] = line;
}

static const cyaml_config_t cyaml_quiet = {
        .log_fn = NULL,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_NO_ALIAS,
};

/* "SEQUENCE_START" -> "a list" and so on, for libcyaml's event names. */
static const char *
cyaml_event_kind(const char *ev)
{
	if (strncmp(ev, "SEQUENCE", 8) == 0)
		return "a list";
	if (strncmp(ev, "MAPPING", 7) == 0)
		return "a mapping";
	if (strncmp(ev, "SCALAR", 6) == 0)
		return "a scalar";
	return ev;
}

void
config_cyaml_report(struct cfg_ctx *c, char **lines, size_t nlines)
{
	char path[CFG_PATH_MAX] = "", problem[256] = "", name[128], what[64];
	char got[64];
	const char *msg = NULL;
	unsigned line = 0, l;
	size_t i, plen, bt = nlines;
	unsigned long idx;

	for (i = 0; i < nlines; i++) {
		if (strcmp(lines[i], "Load: Backtrace:") == 0) {
			bt = i;
			break;
		}
		if (msg == NULL && strncmp(lines[i], "Load: ", 6) == 0)
			msg = lines[i] + 6;
	}
	if (msg == NULL)
		msg = nlines > 0 ? lines[0] : "rejected by the schema";
	/* The backtrace runs innermost first; build the path outermost
	 * first. */
	for (i = nlines; i-- > bt + 1;) {
		plen = strlen(path);
		if (sscanf(lines[i], " in mapping field '%127[^']' (line: %u",
		           name, &l) == 2)
			yaml_path_push(path, plen, plen ? ".%s" : "%s", name);
		else if (sscanf(lines[i], " in sequence entry '%lu' (line: %u",
		                &idx, &l) == 2)
			/* libcyaml counts entries from 1 */
			yaml_path_push(path, plen, "[%lu]", idx ? idx - 1 : 0);
		else if (sscanf(lines[i], " in mapping (line: %u", &l) != 1)
			continue;
		if (line == 0 || i == bt + 1)
			line = l;
	}
	plen = strlen(path);
	if (sscanf(msg, "Unexpected key: %127[^\n]", name) == 1) {
		yaml_path_push(path, plen, plen ? ".%s" : "%s", name);
		snprintf(problem, sizeof(problem), "unknown key");
	} else if (sscanf(msg, "Mapping field already seen: %127[^\n]", name) ==
	           1) {
		yaml_path_push(path, plen, plen ? ".%s" : "%s", name);
		snprintf(problem, sizeof(problem), "duplicate key");
	} else if (sscanf(msg, "Invalid %63s value: '%127[^']'", what, name) ==
	           2) {
		for (i = 0; what[i]; i++)
			what[i] = (char)tolower((unsigned char)what[i]);
		snprintf(problem, sizeof(problem), "invalid %s value \"%s\"",
		         what, name);
	} else if (sscanf(msg, "Expecting %63[A-Z_], got event: %63s", what,
	                  got) == 2) {
		for (i = 0; what[i]; i++)
			what[i] = (char)tolower((unsigned char)what[i]);
		snprintf(problem, sizeof(problem), "expected %s, found %s",
		         what, cyaml_event_kind(got));
	} else
		snprintf(problem, sizeof(problem), "%s", msg);
	/* Our own map knows the line of a key better than libcyaml, which
	 * reports where its parser stood. */
	if (c->doc != NULL && path[0] != '\0' &&
	    config_yaml_find(c->doc, path, &l) != NULL)
		line = l;
	cfg_error_at(c, line ? line : 1, path, "%s", problem);
}

int
config_cyaml_load(struct cfg_ctx *c, const char *text, size_t len,
                  const cyaml_schema_value_t *schema, void **out)
{
	struct cyaml_capture cap = {0};
	cyaml_config_t cfg = cyaml_quiet;
	cyaml_data_t *data = NULL;
	cyaml_err_t err;
	size_t i;

	cfg.log_fn = cyaml_capture_log;
	cfg.log_ctx = &cap;
	err = cyaml_load_data((const uint8_t *)text, len, &cfg, schema, &data,
	                      NULL);
	if (err != CYAML_OK) {
		if (cap.n == 0) {
			char *line = sn_xstrdup(cyaml_strerror(err));

			cap.lines = sn_xmalloc(sizeof(*cap.lines));
			cap.lines[cap.n++] = line;
		}
		config_cyaml_report(c, cap.lines, cap.n);
	}
	for (i = 0; i < cap.n; i++)
		free(cap.lines[i]);
	free(cap.lines);
	*out = err == CYAML_OK ? data : NULL;
	return err == CYAML_OK ? 0 : -1;
}

void
config_cyaml_free(const cyaml_schema_value_t *schema, void *data)
{
	if (data != NULL)
		cyaml_free(&cyaml_quiet, schema, data, 0);
}

int
config_file_load(struct cfg_ctx *c, struct cfg_doc *doc, const char *text,
                 size_t len, const cyaml_schema_value_t *schema, void **raw)
{
	*raw = NULL;
	c->doc = NULL;
	if (config_yaml_parse(c->name, text, len, doc, c->errs) < 0) {
		c->nerrors++;
		return -1;
	}
	c->doc = doc;
	if (config_yaml_check(c, schema) > 0)
		return -1;
	if (doc->root == NULL)
		return 0; /* empty file: every key takes its default */
	return config_cyaml_load(c, text, len, schema, raw);
}
