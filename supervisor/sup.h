/*
 * sup.h: the supervisor at run time: forks the four daemons, reads their
 * readiness, reaps them, restarts them by the policy of proc.h, stops
 * them in order, reloads the config, and publishes the set's state.
 * main.c only parses arguments and calls these in order; control.c
 * calls sup_status_json and sup_reload for the control socket.
 */
#ifndef SN_SUP_H
#define SN_SUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "privs.h"
#include "proc.h"

struct event_base;
struct event;
struct ipc_out;
struct control;
struct json_t;

/* Default time a daemon gets between SIGTERM and SIGKILL at stop. */
#define SUP_STOP_TIMEOUT_MS 10000
/* Environment: overrides SUP_STOP_TIMEOUT_MS (a duration, "2s"). */
#define SUP_STOP_TIMEOUT_ENV "SENTINEL_STOP_TIMEOUT"
/* Environment: the one folder holding the daemon executables. */
#define SUP_LIBEXEC_ENV "SENTINEL_LIBEXEC_DIR"
/* The fd number a child finds its readiness pipe on. */
#define SUP_NOTIFY_FD 3
/* How often the set's state is published even when nothing changed. */
#define SUP_PUBLISH_MS 1000

/* One supervised daemon: the policy's state plus the plumbing. */
struct sup_child {
	struct proc p;
	struct sup *sup;
	char *exe_path;           /* resolved program path, owned */
	int multicall;            /* exe_path is sentinel itself */
	int notify_fd;            /* read end of the readiness pipe, or -1 */
	struct event *notify_ev;  /* readable notify_fd */
	struct event *restart_ev; /* backoff timer */
	struct event *kill_ev;    /* SIGKILL timer while stopping */
};

struct sup {
	struct event_base *base;
	char *config_path;         /* --config as given, NULL: built-in */
	struct sn_config *cfg;     /* the running configuration, owned */
	char *run_dir;             /* run_dir at start; sockets stay there */
	char *pid_path;            /* <run_dir>/sentinel.pid */
	int pid_fd;                /* holds the flock, -1 when not taken */
	struct control *ctl;       /* control socket server */
	struct exporter *exporter; /* /metrics (exporter.h) */
	struct ipc_out *state_out; /* pub socket for SN_MSG_SET_STATE */
	struct sup_child children[PROC_COUNT]; /* proc_table order */
	struct event *sig_ev[4];               /* TERM, INT, HUP, CHLD */
	struct event *tick_ev;                 /* periodic publish */
	int64_t started_ms;                    /* monotonic, for uptime */
	int64_t stop_timeout_ms;
	bool ready;           /* all four up right now */
	bool ready_announced; /* "daemon set ready" logged, READY=1 sent */
	bool stopping;        /* SIGTERM/SIGINT seen */
	int stop_idx;         /* position in proc_stop_order */
	struct privs privs;   /* security.* resolved at start (privs.h) */
	int http_fd; /* ingestd's listener bound before the switch, or -1 */
};

/*
 * Takes cfg (owned from now on) and prepares everything that can fail
 * before anything is forked: finds the executables, creates run_dir,
 * locks the pid file, switches to security.user when started as root
 * (privs.h), opens the control and state sockets, creates the loop and
 * its signal events.  Returns 0, or -1 after logging why (the
 * caller exits 2).  sup_free undoes whatever was done.
 */
int sup_init(struct sup *s, struct sn_config *cfg, const char *config_path);

/* Forks every daemon in start order.  Never fails: a fork that fails
 * counts as a crash and is retried by the backoff policy. */
void sup_start(struct sup *s);

/* Runs the loop until the set is stopped.  Returns the exit code. */
int sup_run(struct sup *s);

/* Closes the sockets, removes the pid file and control socket. */
void sup_free(struct sup *s);

/* Stops the set in proc_stop_order, then ends the loop. */
void sup_stop(struct sup *s);

/*
 * Loads the config file again; all or nothing.  On success adopts it and
 * forwards SIGHUP to every daemon that is up, and returns 0.  On failure
 * fills errs (one "file:line: key: problem" each), logs them, keeps the
 * running config and returns -1.
 */
int sup_reload(struct sup *s, struct sn_cfg_errors *errs);

/* True when all four daemons are up. */
bool sup_is_ready(const struct sup *s);

/*
 * The answer to the control "status" command, a new jansson object the
 * caller frees (docs/cli.md shows its fields).
 */
struct json_t *sup_status_json(const struct sup *s);

/*
 * Finds exe in dirs (n of them, NULL entries skipped).  Returns a new
 * path of the first that is executable, or NULL.
 */
char *sup_find_exe(const char *exe, const char *const *dirs, int n);

#endif
