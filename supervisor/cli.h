/*
 * cli.h: what the files of sentinel-cli share.  cli.c holds the grammar
 * table, argument parsing and the supervisor commands; cli_detect.c the
 * commands that ask detectd (detectors list, detectors test);
 * cli_replay.c the offline replay through the detection engine;
 * cli_storage.c the commands that ask stored (storage check, storage
 * retention show, storage backup); cli_alerts.c the commands that ask
 * alertd (alerts status, alerts test, alerts silence add|list|expire);
 * cli_metrics.c metrics list|get and cli_diag.c diagnostics collect,
 * which ask the supervisor (and, for the bundle, stored and alertd);
 * cli_nng.c the request helper these share.
 *
 * Every command runner returns the exit code: CLI_EXIT_OK when the
 * question was answered, CLI_EXIT_FAILURE when it could not be (or, for
 * status, a daemon is not up), CLI_EXIT_USAGE on a usage error.
 */
#ifndef SN_CLI_H
#define SN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include <jansson.h>

#define CLI_EXIT_OK      0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

/* Positional arguments a command takes at most (after its words). */
#define CLI_MAX_ARGS 4

/* detectd's control endpoint under run_dir (req/rep, JSON); the same
 * name as SN_IPC_DETECTD_CTL in detectd/detctl.h, the server's side. */
#define CLI_DETECTD_CTL "detectd-ctl.ipc"
/* stored's query endpoint (SN_IPC_STORED_QUERY in stored/query.h). */
#define CLI_STORED_QUERY "stored-query.ipc"
/* alertd's control endpoint (SN_IPC_ALERTD_CTL in alertd/actl.h). */
#define CLI_ALERTD_CTL "alertd-ctl.ipc"

/* --match given at most this often: SILENCE_MAX_MATCHERS of
 * alertd/silence.h, which alertd checks again. */
#define CLI_MAX_MATCHERS 32

/* Options of the command line, global and per command. */
struct cli_opts {
	bool json;          /* --json: machine-readable output */
	const char *socket; /* --socket */
	const char *config; /* --config */
	/* command options (see CLI_OPT_* in cli.c) */
	const char *detectors; /* replay --detectors FILE */
	const char *input;     /* replay --input FILE */
	const char *output;    /* replay, diagnostics collect --output */
	const char *event;     /* detectors test --event FILE */
	bool full;             /* storage check --full */
	bool force;            /* storage backup --force */
	const char *timeout;   /* alerts test --timeout DURATION */
	const char *duration;  /* alerts silence add --duration */
	const char *comment;   /* alerts silence add --comment */
	const char *author;    /* alerts silence add --author */
	bool all;              /* alerts silence list --all */
	/* alerts silence add --match, each as given, in order */
	const char *matches[CLI_MAX_MATCHERS];
	size_t nmatches;
	const char *args[CLI_MAX_ARGS]; /* positional, after the words */
	size_t nargs;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
};

struct cli_cmd;

/*
 * The run_dir the daemons use: the folder of --socket, else the run_dir
 * of --config, else the built-in default.  Writes it into buf.  Returns
 * 0, or -1 after printing why.
 */
int cli_run_dir(const struct cli_opts *o, char *buf, size_t size);

/*
 * cli.c: sends req (borrowed) to the supervisor's control socket (from
 * --socket or --config, like every command) and reads its answer.
 * Returns the answer object (caller decrefs), or NULL with err filled,
 * printed on stderr too unless quiet.
 */
json_t *cli_sup_request(struct cli_opts *o, json_t *req, bool quiet, char *err,
                        size_t errsize);

/* Prints a JSON value as one compact line on stdout. */
void cli_print_json(json_t *v);

/* The string member key of o, or dflt when absent or not a string. */
const char *cli_str(json_t *o, const char *key, const char *dflt);

/*
 * cli_nng.c: sends req (borrowed) to endpoint (a file name under the
 * run_dir of o) and waits up to timeout_ms for the answer.  Returns the
 * answer object (caller decrefs), or NULL after printing why, naming
 * daemon: unreachable, no answer in time, not JSON.
 */
json_t *cli_nng_request(const struct cli_opts *o, const char *endpoint,
                        const char *daemon, json_t *req, int timeout_ms);

/* How long a control request to a daemon may take. */
#define CLI_CTL_TIMEOUT_MS 5000

/*
 * cli_nng.c: asks a daemon's control endpoint (common/ctl.c): sends req
 * (stolen; NULL means out of memory) and returns the answer when it says
 * ok (caller decrefs), else NULL after printing the refusal for command
 * name (as JSON on stdout with --json).
 */
json_t *cli_ctl_ask(const struct cli_opts *o, const char *endpoint,
                    const char *daemon, const char *name, json_t *req);
/* reply when it says ok (passed on), else NULL after decref'ing it and
 * printing the refusal for command name as cli_ctl_ask does. */
json_t *cli_reply_ok(const struct cli_opts *o, const char *name, json_t *reply);

/* cli_detect.c */
int cli_run_detectors_list(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_detectors_test(const struct cli_cmd *cmd, struct cli_opts *o);

/* cli_replay.c */
int cli_run_replay(const struct cli_cmd *cmd, struct cli_opts *o);

/* cli_storage.c */
int cli_run_storage_check(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_storage_retention(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_storage_backup(const struct cli_cmd *cmd, struct cli_opts *o);

/*
 * What `storage check` asks stored (storage.check; full: the integrity
 * check of the whole file), waiting up to timeout_ms: the body of its
 * answer (caller decrefs), or NULL after printing why on stderr.
 */
json_t *cli_storage_check_ask(const struct cli_opts *o, bool full,
                              int timeout_ms);

/* cli_alerts.c */
/* What `alerts status` asks alertd: its answer (caller decrefs), or NULL
 * after printing why (the refusal as JSON on stdout with --json). */
json_t *cli_alerts_status_ask(const struct cli_opts *o);
int cli_run_alerts_status(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_alerts_test(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_alerts_silence_add(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_alerts_silence_list(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_alerts_silence_expire(const struct cli_cmd *cmd,
                                  struct cli_opts *o);

/* cli_metrics.c */
int cli_run_metrics_list(const struct cli_cmd *cmd, struct cli_opts *o);
int cli_run_metrics_get(const struct cli_cmd *cmd, struct cli_opts *o);

/* cli_diag.c */
int cli_run_diagnostics_collect(const struct cli_cmd *cmd, struct cli_opts *o);

#endif
