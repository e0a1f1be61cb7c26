/*
 * cli_storage.c: `sentinel-cli storage check`, `storage retention show`
 * and `storage backup FILE`.  They ask stored's reader threads directly
 * (ipc://<run_dir>/stored-query.ipc, stored/query.h), not the
 * supervisor:
 *
 *   {"command":"storage.check","params":{"full":false}}
 *   {"command":"retention.show","params":{}}
 *   {"command":"storage.backup","params":{"path":"/abs","force":false}}
 *     -> {"status":200,"body":{...}}, or another status with
 *        {"error","reason"} in the body
 *
 * An integrity check reads the whole file and a backup copies it, so
 * those two wait up to CLI_STORAGE_LONG_MS for the answer.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "util.h"

#define CLI_STORAGE_SHORT_MS 60000        /* retention show */
#define CLI_STORAGE_LONG_MS  (30 * 60000) /* check, backup */

/*
 * Sends command with params (stolen) to stored.  Returns the body of a
 * 200 answer (caller decrefs), or NULL after printing why (with --json,
 * the answer's body on stdout).
 */
static json_t *
cli_stored_ask(const struct cli_opts *o, const char *name, const char *command,
               json_t *params, int timeout_ms)
{
	json_t *req, *reply, *body;
	json_int_t status;

	req = json_pack("{s:s, s:o}", "command", command, "params",
	                params != NULL ? params : json_object());
	if (req == NULL) {
		fprintf(stderr, "sentinel-cli: out of memory\n");
		return NULL;
	}
	reply = cli_nng_request(o, CLI_STORED_QUERY, "stored", req, timeout_ms);
	json_decref(req);
	if (reply == NULL)
		return NULL;
	status = json_integer_value(json_object_get(reply, "status"));
	body = json_incref(json_object_get(reply, "body"));
	json_decref(reply);
	if (status == 200 && json_is_object(body))
		return body;
	if (o->json && body != NULL)
		cli_print_json(body);
	else if (cli_str(body, "reason", NULL) != NULL)
		fprintf(stderr, "sentinel-cli: %s: %s: %s\n", name,
		        cli_str(body, "error", "refused by stored"),
		        cli_str(body, "reason", ""));
	else
		fprintf(stderr, "sentinel-cli: %s: %s\n", name,
		        cli_str(body, "error", "refused by stored"));
	json_decref(body);
	return NULL;
}

/* 1.5 KiB, 12.3 MiB, 4.0 GiB. */
static void
cli_bytes(json_t *v, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double n;
	size_t u = 0;

	if (!json_is_integer(v)) {
		snprintf(buf, size, "?");
		return;
	}
	n = (double)json_integer_value(v);
	while (n >= 1024 && u + 1 < SN_ARRAY_LEN(units)) {
		n /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%.0f B", n);
	else
		snprintf(buf, size, "%.1f %s", n, units[u]);
}

/* A number member as text ("-" when absent or null). */
static const char *
cli_num_text(json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%g", json_real_value(v));
	else
		snprintf(buf, size, "-");
	return buf;
}

/* Prints each string of list under a heading, when there are any. */
static void
cli_print_list(const char *heading, json_t *list)
{
	json_t *v;
	size_t i;

	if (json_array_size(list) == 0)
		return;
	printf("%s:\n", heading);
	json_array_foreach(list, i, v) printf("  - %s\n", json_string_value(v));
}

/* The human form of storage.check's body. */
static void
cli_print_check(json_t *b)
{
	json_t *integ = json_object_get(b, "integrity");
	json_t *disk = json_object_get(b, "disk");
	json_t *rows = json_object_get(b, "rows");
	json_t *evs = json_object_get(b, "events");
	json_t *runs = json_object_get(b, "retention"), *v, *m;
	char a[32], c[32], d[32], e[32];
	const char *key, *sep = "";
	size_t i;
	bool first = true;

	printf("storage %s: %s\n", cli_str(b, "path", "?"),
	       json_is_true(json_object_get(b, "ok")) ? "OK"
	                                              : "PROBLEMS FOUND");
	printf("%-15s %s\n", "schema version",
	       cli_num_text(b, "schema_version", a, sizeof(a)));
	cli_bytes(json_object_get(b, "file_bytes"), a, sizeof(a));
	cli_bytes(json_object_get(b, "wal_bytes"), c, sizeof(c));
	printf("%-15s %s (wal %s; %s pages, %s free)\n", "file", a, c,
	       cli_num_text(b, "pages", d, sizeof(d)),
	       cli_num_text(b, "free_pages", e, sizeof(e)));
	if (disk != NULL) {
		cli_bytes(json_object_get(disk, "free_bytes"), a, sizeof(a));
		cli_bytes(json_object_get(disk, "total_bytes"), c, sizeof(c));
		printf("%-15s %s of %s (%s%%) in %s\n", "free disk", a, c,
		       cli_num_text(disk, "free_percent", d, sizeof(d)),
		       cli_str(disk, "folder", "?"));
	}
	printf("%-15s %s: %s\n", "integrity", cli_str(integ, "check", "?"),
	       json_is_true(json_object_get(integ, "ok")) ? "ok" : "FAILED");
	json_array_foreach(json_object_get(integ, "messages"), i, m)
	        printf("%-15s   %s\n", "", json_string_value(m));
	printf("%-15s ", "rows");
	json_object_foreach(rows, key, v)
	{
		printf("%s%s %lld", sep, key, (long long)json_integer_value(v));
		sep = ", ";
	}
	printf("\n");
	if (evs != NULL)
		printf("%-15s %s .. %s\n", "events",
		       cli_str(evs, "oldest", "none"),
		       cli_str(evs, "newest", "none"));
	json_object_foreach(runs, key, v)
	{
		printf("%-15s %s: last run %s, deleted %s (older than %s)\n",
		       first ? "retention" : "", key, cli_str(v, "at", "never"),
		       cli_num_text(v, "deleted", a, sizeof(a)),
		       cli_str(v, "cutoff", "-"));
		first = false;
	}
	if (first)
		printf("%-15s %s\n", "retention", "no run recorded");
	cli_print_list("problems", json_object_get(b, "problems"));
	cli_print_list("warnings", json_object_get(b, "warnings"));
}

json_t *
cli_storage_check_ask(const struct cli_opts *o, bool full, int timeout_ms)
{
	return cli_stored_ask(o, "storage check", "storage.check",
	                      json_pack("{s:b}", "full", full), timeout_ms);
}

int
cli_run_storage_check(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *b;
	int code;

	(void)cmd;
	b = cli_storage_check_ask(o, o->full, CLI_STORAGE_LONG_MS);
	if (b == NULL)
		return CLI_EXIT_FAILURE;
	code = json_is_true(json_object_get(b, "ok")) ? CLI_EXIT_OK
	                                              : CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(b);
	else
		cli_print_check(b);
	json_decref(b);
	return code;
}

/* The human form of retention.show's body: one line per policy. */
static void
cli_print_retention(json_t *b)
{
	json_t *p, *run;
	char rows[32], del[32];
	size_t i;

	printf("%-14s %-6s %10s  %-24s  %-24s %s\n", "POLICY", "KEEP", "ROWS",
	       "OLDEST", "LAST RUN", "DELETED");
	json_array_foreach(json_object_get(b, "policies"), i, p)
	{
		run = json_object_get(p, "last_run");
		printf("%-14s %-6s %10s  %-24s  %-24s %s\n",
		       cli_str(p, "policy", "?"), cli_str(p, "keep", "?"),
		       cli_num_text(p, "rows", rows, sizeof(rows)),
		       cli_str(p, "oldest", "-"),
		       json_is_object(run) ? cli_str(run, "at", "-") : "never",
		       json_is_object(run)
		               ? cli_num_text(run, "deleted", del, sizeof(del))
		               : "-");
	}
	printf("retention runs every %s\n", cli_str(b, "interval", "?"));
	cli_print_list("problems", json_object_get(b, "problems"));
}

int
cli_run_storage_retention(const struct cli_cmd *cmd, struct cli_opts *o)
{
	json_t *b;

	(void)cmd;
	b = cli_stored_ask(o, "storage retention show", "retention.show", NULL,
	                   CLI_STORAGE_SHORT_MS);
	if (b == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(b);
	else
		cli_print_retention(b);
	json_decref(b);
	return CLI_EXIT_OK;
}

/*
 * storage backup FILE: stored writes the file, so a relative FILE is
 * made absolute here, against the directory the command runs in.
 */
int
cli_run_storage_backup(const struct cli_cmd *cmd, struct cli_opts *o)
{
	const char *file = o->args[0];
	char cwd[PATH_MAX], path[PATH_MAX + 1], size[32];
	json_t *b;
	int n;

	(void)cmd;
	if (file[0] == '/')
		n = snprintf(path, sizeof(path), "%s", file);
	else if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "sentinel-cli: getcwd: %s\n", strerror(errno));
		return CLI_EXIT_FAILURE;
	} else
		n = snprintf(path, sizeof(path), "%s/%s", cwd, file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "sentinel-cli: path too long: %s\n", file);
		return CLI_EXIT_FAILURE;
	}
	b = cli_stored_ask(
	        o, "storage backup", "storage.backup",
	        json_pack("{s:s, s:b}", "path", path, "force", o->force),
	        CLI_STORAGE_LONG_MS);
	if (b == NULL)
		return CLI_EXIT_FAILURE;
	if (o->json)
		cli_print_json(b);
	else {
		cli_bytes(json_object_get(b, "bytes"), size, sizeof(size));
		printf("backup written to %s: %s, %lld pages in %.1f s\n",
		       cli_str(b, "path", path), size,
		       (long long)json_integer_value(
		               json_object_get(b, "pages")),
		       (double)json_integer_value(
		               json_object_get(b, "elapsed_ms")) /
		               1000.0);
	}
	json_decref(b);
	return CLI_EXIT_OK;
}
