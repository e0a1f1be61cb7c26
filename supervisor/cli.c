/*
 * sentinel-cli: the control client of the supervisor, after relayctl
 * and smtpctl (style.md 14): a table of commands, each with the request
 * it sends and a printer for the answer; human output by default, the
 * server's JSON with --json.
 *
 *   sentinel-cli [--json] [--socket PATH | --config FILE] COMMAND [ARGS]
 *
 * A command is one or more words ("status", "detectors list"), then its
 * positional arguments and its own options, in any order with the
 * global ones.  Commands that need more than one request and a printer
 * have a runner of their own (cli_detect.c, cli_replay.c, cli_storage.c,
 * cli_alerts.c, cli_metrics.c, cli_diag.c).
 *
 * Exit codes: 0 ok, 1 failure (cannot connect, the supervisor refused,
 * or for status: a daemon is not up), 2 usage error.  docs/cli.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "config.h"
#include "control_proto.h"
#include "util.h"

/* run_dir of the packaged config (packaging/etc/config.yaml, the
 * unit's RuntimeDirectory=sentinel, the container image). */
#define CLI_PACKAGED_RUN_DIR "/run/sentinel"

/* Longest answer accepted (a status is about a kilobyte). */
#define CLI_MAX_REPLY (16 * 1024 * 1024)
/* How long to wait for the supervisor (a reload parses three files). */
#define CLI_TIMEOUT_S 30
/* Words a command name has at most ("storage retention show", "alerts
 * silence add": three). */
#define CLI_MAX_WORDS 3

/* Options that belong to one command or another. */
enum {
	CLI_OPT_DETECTORS = 1u << 0,
	CLI_OPT_INPUT = 1u << 1,
	CLI_OPT_OUTPUT = 1u << 2,
	CLI_OPT_EVENT = 1u << 3,
	CLI_OPT_FULL = 1u << 4,
	CLI_OPT_FORCE = 1u << 5,
	CLI_OPT_TIMEOUT = 1u << 6,
	CLI_OPT_MATCH = 1u << 7, /* may be given more than once */
	CLI_OPT_DURATION = 1u << 8,
	CLI_OPT_COMMENT = 1u << 9,
	CLI_OPT_AUTHOR = 1u << 10,
	CLI_OPT_ALL = 1u << 11,
};

static const struct cli_opt_def {
	const char *name;
	unsigned bit;
	/* of its const char * (or bool, if flag) in cli_opts; --match
	 * appends to o->matches instead */
	size_t off;
	bool flag; /* takes no value */
} cli_opt_defs[] = {
        {"--detectors", CLI_OPT_DETECTORS, offsetof(struct cli_opts, detectors),
         false},
        {"--input", CLI_OPT_INPUT, offsetof(struct cli_opts, input), false},
        {"--output", CLI_OPT_OUTPUT, offsetof(struct cli_opts, output), false},
        {"--event", CLI_OPT_EVENT, offsetof(struct cli_opts, event), false},
        {"--full", CLI_OPT_FULL, offsetof(struct cli_opts, full), true},
        {"--force", CLI_OPT_FORCE, offsetof(struct cli_opts, force), true},
        {"--timeout", CLI_OPT_TIMEOUT, offsetof(struct cli_opts, timeout),
         false},
        {"--match", CLI_OPT_MATCH, 0, false},
        {"--duration", CLI_OPT_DURATION, offsetof(struct cli_opts, duration),
         false},
        {"--comment", CLI_OPT_COMMENT, offsetof(struct cli_opts, comment),
         false},
        {"--author", CLI_OPT_AUTHOR, offsetof(struct cli_opts, author), false},
        {"--all", CLI_OPT_ALL, offsetof(struct cli_opts, all), true},
};

struct cli_cmd {
	const char *name;  /* its words: "detectors list" */
	const char *usage; /* what follows the words, for the usage */
	const char *help;
	size_t nargs;        /* positional arguments it takes */
	unsigned opts;       /* command options it accepts (CLI_OPT_*) */
	unsigned required;   /* of those, the ones it needs */
	const char *request; /* control command sent (NULL: run or help) */
	/* Prints a successful answer for humans; returns the exit code. */
	int (*print)(json_t *reply);
	/* Exit code of a successful answer (same with --json); NULL: 0. */
	int (*code)(json_t *reply);
	/* Runs the command itself; NULL: one request to the supervisor. */
	int (*run)(const struct cli_cmd *cmd, struct cli_opts *o);
};

static int cli_print_status(json_t *);
static int cli_code_status(json_t *);
static int cli_print_version(json_t *);
static int cli_print_reload(json_t *);
static int cli_run_version(const struct cli_cmd *, struct cli_opts *);

static const struct cli_cmd cli_cmds[] = {
        {"status", "", "show the supervisor and the state of each daemon", 0, 0,
         0, CONTROL_CMD_STATUS, cli_print_status, cli_code_status, NULL},
        {"version", "", "show the versions of sentinel-cli and the supervisor",
         0, 0, 0, CONTROL_CMD_VERSION, cli_print_version, NULL,
         cli_run_version},
        {"reload", "", "reload the configuration (like SIGHUP)", 0, 0, 0,
         CONTROL_CMD_RELOAD, cli_print_reload, NULL, NULL},
        {"detectors list", "", "show each detector and what it has seen", 0, 0,
         0, NULL, NULL, NULL, cli_run_detectors_list},
        {"detectors test", "ID --event FILE",
         "dry-run one event through the live state of detector ID", 1,
         CLI_OPT_EVENT, CLI_OPT_EVENT, NULL, NULL, NULL,
         cli_run_detectors_test},
        {"replay",
         "--detectors FILE --input EVENTS.ndjson [--output ANOMALIES.ndjson]",
         "run detectors over a file of events, offline, no daemons", 0,
         CLI_OPT_DETECTORS | CLI_OPT_INPUT | CLI_OPT_OUTPUT,
         CLI_OPT_DETECTORS | CLI_OPT_INPUT, NULL, NULL, NULL, cli_run_replay},
        {"storage check", "[--full]",
         "check the database: integrity, size, free disk, rows, "
         "retention",
         0, CLI_OPT_FULL, 0, NULL, NULL, NULL, cli_run_storage_check},
        {"storage retention show", "",
         "show each retention policy, what it covers, when it last ran", 0, 0,
         0, NULL, NULL, NULL, cli_run_storage_retention},
        {"storage backup", "FILE [--force]",
         "copy the live database into FILE (online backup)", 1, CLI_OPT_FORCE,
         0, NULL, NULL, NULL, cli_run_storage_backup},
        {"alerts status", "",
         "show each receiver's sent, failed and queued notifications", 0, 0, 0,
         NULL, NULL, NULL, cli_run_alerts_status},
        {"alerts test", "RECEIVER [--timeout DURATION]",
         "send a test notification to RECEIVER and wait for the outcome", 1,
         CLI_OPT_TIMEOUT, 0, NULL, NULL, NULL, cli_run_alerts_test},
        {"alerts silence add",
         "--match NAME=VALUE [--match ...] --duration DURATION "
         "--comment TEXT [--author NAME]",
         "mute the alerts matching every --match for DURATION", 0,
         CLI_OPT_MATCH | CLI_OPT_DURATION | CLI_OPT_COMMENT | CLI_OPT_AUTHOR,
         CLI_OPT_MATCH | CLI_OPT_DURATION | CLI_OPT_COMMENT, NULL, NULL, NULL,
         cli_run_alerts_silence_add},
        {"alerts silence list", "[--all]",
         "show active and pending silences (--all: expired ones too)", 0,
         CLI_OPT_ALL, 0, NULL, NULL, NULL, cli_run_alerts_silence_list},
        {"alerts silence expire", "ID", "end silence ID now", 1, 0, 0, NULL,
         NULL, NULL, cli_run_alerts_silence_expire},
        {"metrics list", "", "show each metric: name, type and help", 0, 0, 0,
         NULL, NULL, NULL, cli_run_metrics_list},
        {"metrics get", "NAME",
         "show the current value of each series of metric NAME", 1, 0, 0, NULL,
         NULL, NULL, cli_run_metrics_get},
        {"diagnostics collect", "--output FILE.tar.gz",
         "write a support bundle: status, redacted config, metrics, logs, "
         "system facts",
         0, CLI_OPT_OUTPUT, CLI_OPT_OUTPUT, NULL, NULL, NULL,
         cli_run_diagnostics_collect},
        {"help", "", "show this help", 0, 0, 0, NULL, NULL, NULL, NULL},
};

static void
cli_usage(FILE *f)
{
	char words[128];
	size_t i;

	fprintf(f, "usage: sentinel-cli [--json] [--socket PATH | --config "
	           "FILE] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < SN_ARRAY_LEN(cli_cmds); i++) {
		snprintf(words, sizeof(words), "%s%s%s", cli_cmds[i].name,
		         cli_cmds[i].usage[0] ? " " : "", cli_cmds[i].usage);
		if (strlen(words) <= 16)
			fprintf(f, "  %-16s %s\n", words, cli_cmds[i].help);
		else
			fprintf(f, "  %s\n  %-16s %s\n", words, "",
			        cli_cmds[i].help);
	}
	fprintf(f,
	        "\noptions:\n"
	        "  --json          print JSON (the answer, or replay's "
	        "summary)\n"
	        "  --socket PATH   control socket (default %s/%s, else\n"
	        "                  " CLI_PACKAGED_RUN_DIR "/%s when only that "
	        "exists);\n"
	        "                  detectd's, stored's and alertd's sockets "
	        "are "
	        "in the same\n"
	        "                  folder\n"
	        "  --config FILE   use the run_dir of this config file\n"
	        "  -h, --help      show this help\n",
	        SN_DEFAULT_RUN_DIR, SN_CONTROL_SOCKET, SN_CONTROL_SOCKET);
}

/* --- talking to the supervisor ------------------------------------------ */

/*
 * The run_dir used without --socket and --config: the built-in default
 * (./var/run), unless it holds no control socket and the packaged one
 * does, so that `sentinel-cli status` works from any folder on a
 * packaged install (docs/deployment.md).
 */
static const char *
cli_default_run_dir(void)
{
	if (access(SN_DEFAULT_RUN_DIR "/" SN_CONTROL_SOCKET, F_OK) != 0 &&
	    access(CLI_PACKAGED_RUN_DIR "/" SN_CONTROL_SOCKET, F_OK) == 0)
		return CLI_PACKAGED_RUN_DIR;
	return SN_DEFAULT_RUN_DIR;
}

/*
 * Finds the control socket: --socket, else the run_dir of --config,
 * else the built-in default run_dir.  Returns 0, or -1 after printing
 * why.
 */
static int
cli_socket_path(struct cli_opts *o)
{
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;
	size_t i;
	int rv;

	if (o->socket != NULL) {
		if (strlen(o->socket) >= sizeof(o->path)) {
			fprintf(stderr, "sentinel-cli: socket path too long\n");
			return -1;
		}
		strcpy(o->path, o->socket);
		return 0;
	}
	if (o->config == NULL) {
		snprintf(o->path, sizeof(o->path), "%s/%s",
		         cli_default_run_dir(), SN_CONTROL_SOCKET);
		return 0;
	}
	if ((cfg = config_load_main(o->config, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr,
		        "sentinel-cli: cannot learn run_dir from %s; "
		        "name the socket with --socket PATH\n",
		        o->config);
		cfg_errors_free(&errs);
		return -1;
	}
	cfg_errors_free(&errs);
	rv = config_run_path(cfg, SN_CONTROL_SOCKET, o->path, sizeof(o->path));
	config_free(cfg);
	if (rv < 0) {
		fprintf(stderr, "sentinel-cli: socket path too long\n");
		return -1;
	}
	return 0;
}

int
cli_run_dir(const struct cli_opts *o, char *buf, size_t size)
{
	struct sn_cfg_errors errs = {0};
	struct sn_config *cfg;
	char *dir;
	size_t i;
	int n;

	if (o->socket != NULL) {
		dir = sn_path_dirname(o->socket);
		n = snprintf(buf, size, "%s", dir);
		free(dir);
	} else if (o->config == NULL) {
		n = snprintf(buf, size, "%s", cli_default_run_dir());
	} else {
		if ((cfg = config_load_main(o->config, &errs)) == NULL) {
			for (i = 0; i < errs.count; i++)
				fprintf(stderr, "%s\n", errs.msgs[i]);
			fprintf(stderr,
			        "sentinel-cli: cannot learn run_dir from %s; "
			        "name the control socket in it with --socket "
			        "PATH\n",
			        o->config);
			cfg_errors_free(&errs);
			return -1;
		}
		cfg_errors_free(&errs);
		n = snprintf(buf, size, "%s", cfg->run_dir);
		config_free(cfg);
	}
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "sentinel-cli: run_dir path too long\n");
		return -1;
	}
	return 0;
}

/* Writes all of s; -1 on error. */
static int
cli_write_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Sends req (borrowed) to the socket at path and reads one answer
 * line.  Returns the parsed answer (caller decrefs), or NULL after
 * printing why unless quiet (*err says why either way).
 */
static json_t *
cli_request_json(const char *path, json_t *req, bool quiet, char *err,
                 size_t errsize)
{
	struct sockaddr_un sun;
	struct timeval tv = {CLI_TIMEOUT_S, 0};
	struct sn_buf b = {0};
	json_error_t jerr;
	json_t *reply = NULL;
	char *line, chunk[4096];
	ssize_t n;
	int fd;

	err[0] = '\0';
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errsize, "socket path too long: %s", path);
		goto out;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errsize,
		         "cannot connect to %s: %s (is sentinel running?)",
		         path, strerror(errno));
		close(fd);
		goto out;
	}

	line = json_dumps(req, JSON_COMPACT);
	if (line == NULL || cli_write_all(fd, line, strlen(line)) < 0 ||
	    cli_write_all(fd, "\n", 1) < 0) {
		snprintf(err, errsize, "cannot send to %s: %s", path,
		         strerror(errno));
		free(line);
		close(fd);
		goto out;
	}
	free(line);

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsize, "no answer from %s: %s", path,
			         errno == EAGAIN ? "timed out"
			                         : strerror(errno));
			break;
		}
		if (n == 0) {
			snprintf(err, errsize, "%s closed the connection",
			         path);
			break;
		}
		sn_buf_append(&b, chunk, (size_t)n);
		if (memchr(chunk, '\n', (size_t)n) != NULL)
			break;
		if (b.len > CLI_MAX_REPLY) {
			snprintf(err, errsize, "answer too long");
			break;
		}
	}
	close(fd);
	if (err[0] == '\0') {
		size_t len = (size_t)((uint8_t *)memchr(b.data, '\n', b.len) -
		                      b.data);

		reply = json_loadb((const char *)b.data, len, 0, &jerr);
		if (reply == NULL || !json_is_object(reply)) {
			snprintf(err, errsize, "bad answer from %s: %s", path,
			         reply == NULL ? jerr.text : "not an object");
			json_decref(reply);
			reply = NULL;
		}
	}
	sn_buf_free(&b);
out:
	if (reply == NULL && !quiet)
		fprintf(stderr, "sentinel-cli: %s\n", err);
	return reply;
}

/* Sends {"command":command}: cli_request_json's contract. */
static json_t *
cli_request(const char *path, const char *command, bool quiet, char *err,
            size_t errsize)
{
	json_t *req = json_pack("{s:s}", "command", command), *reply;

	if (req == NULL) {
		snprintf(err, errsize, "out of memory");
		if (!quiet)
			fprintf(stderr, "sentinel-cli: %s\n", err);
		return NULL;
	}
	reply = cli_request_json(path, req, quiet, err, errsize);
	json_decref(req);
	return reply;
}

json_t *
cli_sup_request(struct cli_opts *o, json_t *req, bool quiet, char *err,
                size_t errsize)
{
	if (cli_socket_path(o) < 0) {
		snprintf(err, errsize, "cannot find the control socket");
		return NULL;
	}
	return cli_request_json(o->path, req, quiet, err, errsize);
}

/* --- printers ----------------------------------------------------------- */

const char *
cli_str(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

static long long
cli_int(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* 4s, 2m05s, 3h02m, 2d04h. */
static void
cli_format_uptime(long long s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%lldd%02lldh", s / 86400,
		         s % 86400 / 3600);
}

static int
cli_code_status(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ready")) ? CLI_EXIT_OK
	                                                     : CLI_EXIT_FAILURE;
}

static int
cli_print_status(json_t *reply)
{
	json_t *list = json_object_get(reply, "daemons"), *d;
	char pid[16], up[32];
	size_t i;

	printf("sentinel %s (%s), %s%s\n", cli_str(reply, "version", "?"),
	       cli_str(reply, "mode", "?"),
	       json_is_true(json_object_get(reply, "ready")) ? "ready"
	                                                     : "not ready",
	       json_is_true(json_object_get(reply, "stopping")) ? ", stopping"
	                                                        : "");
	printf("%-9s %-9s %-8s %-8s %-9s %s\n", "DAEMON", "STATE", "PID",
	       "UPTIME", "RESTARTS", "LAST EXIT");
	json_array_foreach(list, i, d)
	{
		if (cli_int(d, "pid") > 0) {
			snprintf(pid, sizeof(pid), "%lld", cli_int(d, "pid"));
			cli_format_uptime(cli_int(d, "uptime_seconds"), up,
			                  sizeof(up));
		} else {
			strcpy(pid, "-");
			strcpy(up, "-");
		}
		printf("%-9s %-9s %-8s %-8s %-9lld %s\n",
		       cli_str(d, "name", "?"), cli_str(d, "state", "?"), pid,
		       up, cli_int(d, "restarts"),
		       cli_str(d, "last_exit", "-"));
	}
	return cli_code_status(reply);
}

static int
cli_print_version(json_t *reply)
{
	printf("sentinel %s (supervisor)\n", cli_str(reply, "version", "?"));
	return CLI_EXIT_OK;
}

static int
cli_print_reload(json_t *reply)
{
	printf("%s\n", cli_str(reply, "message", "configuration reloaded"));
	return CLI_EXIT_OK;
}

/* Prints a refusal: the error, then each config error on its own line. */
static void
cli_print_refusal(const struct cli_cmd *cmd, json_t *reply)
{
	json_t *e;
	size_t i;

	fprintf(stderr, "sentinel-cli: %s: %s\n", cmd->name,
	        cli_str(reply, "error", "refused"));
	json_array_foreach(json_object_get(reply, "errors"), i, e)
	        fprintf(stderr, "%s\n", json_string_value(e));
}

void
cli_print_json(json_t *reply)
{
	char *s = json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

/*
 * version: our own version always; the supervisor's when it answers.
 * Exits 0 either way (the question was answered).
 */
static int
cli_run_version(const struct cli_cmd *cmd, struct cli_opts *o)
{
	char err[512];
	json_t *reply = NULL;

	if (cli_socket_path(o) == 0)
		reply = cli_request(o->path, cmd->request, true, err,
		                    sizeof(err));
	else
		snprintf(err, sizeof(err), "no control socket");
	if (o->json) {
		json_t *out = reply != NULL
		                      ? json_incref(reply)
		                      : json_pack("{s:b, s:n, s:s}", "ok", 1,
		                                  "version", "error", err);

		json_object_set_new(out, "cli_version",
		                    json_string(SENTINEL_VERSION));
		cli_print_json(out);
		json_decref(out);
	} else {
		printf("sentinel-cli %s\n", SENTINEL_VERSION);
		if (reply != NULL && json_is_true(json_object_get(reply, "ok")))
			cmd->print(reply);
		else
			fprintf(stderr, "sentinel-cli: supervisor: %s\n", err);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int
cli_run(const struct cli_cmd *cmd, struct cli_opts *o)
{
	char err[512];
	json_t *reply;
	int code;

	if (cli_socket_path(o) < 0)
		return CLI_EXIT_FAILURE;
	reply = cli_request(o->path, cmd->request, false, err, sizeof(err));
	if (reply == NULL)
		return CLI_EXIT_FAILURE;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (o->json)
			cli_print_json(reply);
		else
			cli_print_refusal(cmd, reply);
		json_decref(reply);
		return CLI_EXIT_FAILURE;
	}
	if (o->json) {
		cli_print_json(reply);
		code = cmd->code != NULL ? cmd->code(reply) : CLI_EXIT_OK;
	} else
		code = cmd->print(reply);
	json_decref(reply);
	return code;
}

/* --- arguments ---------------------------------------------------------- */

/*
 * Takes the value of --name VALUE or --name=VALUE at argv[*i].  Returns
 * the value, or NULL when arg is another option or the value is
 * missing (*bad set then).
 */
static const char *
cli_opt_value(const char *name, int argc, char **argv, int *i, bool *bad)
{
	size_t n = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "sentinel-cli: %s needs a value\n", name);
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

/* Whether words[0..n) spell exactly c's name. */
static bool
cli_cmd_matches(const struct cli_cmd *c, const char **words, size_t n)
{
	const char *p = c->name;
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(words[i]);
		if (len == 0 || strncmp(p, words[i], len) != 0 ||
		    (p[len] != ' ' && p[len] != '\0'))
			return false;
		p += len;
		if (*p == ' ')
			p++;
		else if (i + 1 < n)
			return false; /* the name ended before the words */
	}
	return *p == '\0';
}

/*
 * Finds the command spelt by the leading positional words: the one with
 * the most words wins.  Returns it with *used set to its word count, or
 * NULL after printing why (unknown, or a group word such as "detectors"
 * without a known subcommand).
 */
static const struct cli_cmd *
cli_find(const char **words, size_t nwords, size_t *used)
{
	size_t k, n, len = strlen(words[0]);

	for (n = nwords < CLI_MAX_WORDS ? nwords : CLI_MAX_WORDS; n > 0; n--)
		for (k = 0; k < SN_ARRAY_LEN(cli_cmds); k++)
			if (cli_cmd_matches(&cli_cmds[k], words, n)) {
				*used = n;
				return &cli_cmds[k];
			}
	for (k = 0; k < SN_ARRAY_LEN(cli_cmds); k++) {
		if (len == 0 || strncmp(cli_cmds[k].name, words[0], len) != 0 ||
		    cli_cmds[k].name[len] != ' ')
			continue;
		if (nwords > 1)
			fprintf(stderr,
			        "sentinel-cli: unknown command: %s %s\n",
			        words[0], words[1]);
		else
			fprintf(stderr,
			        "sentinel-cli: %s: a subcommand is needed\n",
			        words[0]);
		return NULL;
	}
	fprintf(stderr, "sentinel-cli: unknown command: %s\n", words[0]);
	return NULL;
}

/*
 * Checks the positional arguments and command options given (bits of
 * given) against cmd's line of the table.  Returns true when they fit,
 * else false after printing why.
 */
static bool
cli_check(const struct cli_cmd *cmd, const struct cli_opts *o, unsigned given)
{
	size_t k;

	if (o->nargs > cmd->nargs) {
		fprintf(stderr, "sentinel-cli: unexpected argument: %s\n",
		        o->args[cmd->nargs]);
		return false;
	}
	if (o->nargs < cmd->nargs) {
		fprintf(stderr, "sentinel-cli: missing argument: %s %s\n",
		        cmd->name, cmd->usage);
		return false;
	}
	for (k = 0; k < SN_ARRAY_LEN(cli_opt_defs); k++) {
		if ((given & cli_opt_defs[k].bit) &&
		    !(cmd->opts & cli_opt_defs[k].bit)) {
			fprintf(stderr, "sentinel-cli: %s does not take %s\n",
			        cmd->name, cli_opt_defs[k].name);
			return false;
		}
		if ((cmd->required & cli_opt_defs[k].bit) &&
		    !(given & cli_opt_defs[k].bit)) {
			fprintf(stderr, "sentinel-cli: %s needs %s\n",
			        cmd->name, cli_opt_defs[k].name);
			return false;
		}
	}
	return true;
}

/*
 * Takes one command option (--detectors, --input, ...) at argv[*i] into
 * o, setting its bit in *given.  Returns true when argv[*i] was one
 * (*bad set when its value is missing).
 */
static bool
cli_take_cmd_opt(struct cli_opts *o, int argc, char **argv, int *i,
                 unsigned *given, bool *bad)
{
	const char *v;
	size_t k;

	for (k = 0; k < SN_ARRAY_LEN(cli_opt_defs); k++) {
		if (cli_opt_defs[k].flag) {
			if (strcmp(argv[*i], cli_opt_defs[k].name) != 0)
				continue;
			*(bool *)(void *)((char *)o + cli_opt_defs[k].off) =
			        true;
			*given |= cli_opt_defs[k].bit;
			return true;
		}
		v = cli_opt_value(cli_opt_defs[k].name, argc, argv, i, bad);
		if (*bad)
			return true;
		if (v != NULL && cli_opt_defs[k].bit == CLI_OPT_MATCH) {
			if (o->nmatches == CLI_MAX_MATCHERS) {
				fprintf(stderr,
				        "sentinel-cli: --match given more than "
				        "%d times\n",
				        CLI_MAX_MATCHERS);
				*bad = true;
				return true;
			}
			o->matches[o->nmatches++] = v;
			*given |= cli_opt_defs[k].bit;
			return true;
		}
		if (v != NULL) {
			*(const char **)(void *)((char *)o +
			                         cli_opt_defs[k].off) = v;
			*given |= cli_opt_defs[k].bit;
			return true;
		}
	}
	return false;
}

int
main(int argc, char **argv)
{
	struct cli_opts o = {0};
	const struct cli_cmd *cmd = NULL;
	const char *words[CLI_MAX_ARGS + 1], *v;
	size_t nwords = 0, used = 0, k;
	bool bad = false, help = false;
	unsigned given = 0;
	int i;

	/* Options may come before, between or after the words. */
	for (i = 1; i < argc && !bad; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0)
			o.json = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			help = true;
		else if ((v = cli_opt_value("--socket", argc, argv, &i,
		                            &bad)) != NULL)
			o.socket = v;
		else if (bad)
			break;
		else if ((v = cli_opt_value("--config", argc, argv, &i,
		                            &bad)) != NULL)
			o.config = v;
		else if (bad)
			break;
		else if (cli_take_cmd_opt(&o, argc, argv, &i, &given, &bad))
			continue;
		else if (a[0] == '-' && a[1] != '\0') {
			/* "-" alone is a value (stdin), not an option. */
			fprintf(stderr, "sentinel-cli: unknown option: %s\n",
			        a);
			bad = true;
		} else if (nwords == SN_ARRAY_LEN(words)) {
			fprintf(stderr,
			        "sentinel-cli: unexpected argument: %s\n", a);
			bad = true;
		} else
			words[nwords++] = a;
	}
	if (!bad && o.socket != NULL && o.config != NULL) {
		fprintf(stderr, "sentinel-cli: give --socket or --config, not "
		                "both\n");
		bad = true;
	}
	if (!bad && help) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!bad && nwords == 0) {
		fprintf(stderr, "sentinel-cli: no command given\n");
		bad = true;
	}
	if (!bad && (cmd = cli_find(words, nwords, &used)) == NULL)
		bad = true;
	if (!bad) {
		for (k = used; k < nwords; k++)
			o.args[o.nargs++] = words[k];
		bad = !cli_check(cmd, &o, given);
	}
	if (bad) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}

	if (cmd->run != NULL)
		return cmd->run(cmd, &o);
	if (cmd->request == NULL) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	return cli_run(cmd, &o);
}
