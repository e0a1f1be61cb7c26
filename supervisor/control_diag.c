/*
 * control_diag.c: the control commands for diagnostics (control.h):
 *
 *   {"command":"config"}
 *     -> {"ok":true,"config":{...}}     the running configuration with
 *                                       its secrets redacted
 *                                       (common/config_dump.h)
 *   {"command":"logs","lines":N,"daemon":"ingestd"}
 *     -> {"ok":true,"logs":{"sentinel":[...],"ingestd":[...],...},
 *         "errors":{"stored":"..."}}    the newest N lines (default 200,
 *                                       1..5000) of each process's log
 *                                       ring (common/logring.h), oldest
 *                                       first; "daemon" picks one;
 *                                       "errors" only when a ring could
 *                                       not be read
 *
 * Both read files and memory the supervisor has anyway and change
 * nothing, so they are cheap enough to answer on the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_dump.h"
#include "control.h"
#include "logring.h"
#include "proc.h"
#include "sup.h"
#include "util.h"

#define CONTROL_LOGS_DEFAULT 200
#define CONTROL_LOGS_MAX     5000
/* The supervisor's own ring: <run_dir>/sentinel.logring (main.c). */
#define CONTROL_LOGS_SELF "sentinel"

json_t *
control_cmd_config(struct sup *sup, json_t *req)
{
	(void)req;
	return json_pack("{s:b, s:o}", "ok", 1, "config",
	                 config_dump_json(sup->cfg));
}

/* A log line as a JSON string; bytes that are not UTF-8 become '?'. */
static json_t *
control_diag_line(const char *s)
{
	json_t *v = json_string(s);
	char *copy, *p;

	if (v != NULL)
		return v;
	copy = sn_xstrdup(s);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v != NULL ? v : json_string("");
}

/* Adds the ring of name to logs (or why not to errors). */
static void
control_diag_ring(struct sup *sup, const char *name, size_t max, json_t *logs,
                  json_t *errors)
{
	struct logring_lines l;
	char path[4096], why[256];
	json_t *arr;
	size_t i;

	if (logring_path(path, sizeof(path), sup->run_dir, name) < 0) {
		json_object_set_new(errors, name, json_string("path too long"));
		return;
	}
	if (logring_tail(path, max, &l) < 0) {
		snprintf(why, sizeof(why), "%s: %s",
		         errno == EINVAL ? "not a log ring" : "cannot read",
		         strerror(errno));
		logring_lines_free(&l);
		json_object_set_new(errors, name, json_string(why));
		json_object_set_new(logs, name, json_array());
		return;
	}
	arr = json_array();
	for (i = 0; i < l.n; i++)
		json_array_append_new(arr, control_diag_line(l.v[i]));
	logring_lines_free(&l);
	json_object_set_new(logs, name, arr);
}

json_t *
control_cmd_logs(struct sup *sup, json_t *req)
{
	json_t *jl = json_object_get(req, "lines");
	json_t *jd = json_object_get(req, "daemon");
	const char *want = NULL;
	json_t *logs, *errors, *reply;
	json_int_t lines = CONTROL_LOGS_DEFAULT;
	int i;

	if (jl != NULL && !json_is_null(jl)) {
		if (!json_is_integer(jl) || json_integer_value(jl) < 1 ||
		    json_integer_value(jl) > CONTROL_LOGS_MAX)
			return control_error("lines must be an integer from "
			                     "1 to %d",
			                     CONTROL_LOGS_MAX);
		lines = json_integer_value(jl);
	}
	if (jd != NULL && !json_is_null(jd)) {
		if (!json_is_string(jd))
			return control_error("daemon must be a string");
		want = json_string_value(jd);
		for (i = 0; i < PROC_COUNT; i++)
			if (strcmp(want, proc_table[i].name) == 0)
				break;
		if (i == PROC_COUNT && strcmp(want, CONTROL_LOGS_SELF) != 0)
			return control_error("unknown daemon: %.64s", want);
	}
	logs = json_object();
	errors = json_object();
	if (want == NULL || strcmp(want, CONTROL_LOGS_SELF) == 0)
		control_diag_ring(sup, CONTROL_LOGS_SELF, (size_t)lines, logs,
		                  errors);
	for (i = 0; i < PROC_COUNT; i++)
		if (want == NULL || strcmp(want, proc_table[i].name) == 0)
			control_diag_ring(sup, proc_table[i].name,
			                  (size_t)lines, logs, errors);
	reply = json_pack("{s:b, s:o}", "ok", 1, "logs", logs);
	if (json_object_size(errors) > 0)
		json_object_set_new(reply, "errors", errors);
	else
		json_decref(errors);
	return reply;
}
