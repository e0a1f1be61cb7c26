/*
 * daemon.h: what the four stage daemons share at start-up and shutdown,
 * so that each main.c reads like a table of contents:
 *
 *   daemon_init(&d, "stored", argc, argv);   args, config, log, loop,
 *                                            signals (exit 2 on bad
 *                                            config: do not respawn)
 *   ... open sockets and files ...
 *   daemon_ready(&d);                        announce READY
 *   daemon_run(&d);                          loop until stopped
 *
 * Arguments: --config FILE (absent: built-in defaults), --version.
 * SIGTERM/SIGINT call on_stop (or stop the loop); SIGHUP reloads the
 * config and calls on_reload with the new one, keeping the old one when
 * the new file is bad.  Signals are loop events, never work in a handler.
 */
#ifndef SN_DAEMON_H
#define SN_DAEMON_H

#include <stddef.h>

#include "config.h"
#include "ipc.h"

struct event_base;
struct event;

/* Exit code of a daemon that must not be respawned (bad config). */
#define SN_EXIT_PERMANENT 2

struct sn_daemon {
	const char *name;        /* "ingestd", logged as daemon */
	char *config_path;       /* --config, NULL for built-in defaults */
	struct sn_config *cfg;   /* current config, owned */
	struct event_base *base; /* the one loop */
	/*
	 * Called on SIGHUP with a validated new config; return 0 to adopt
	 * it (the old one is freed) or -1 to keep the old one.  NULL: the
	 * new config replaces the old one with no further action.
	 */
	int (*on_reload)(struct sn_daemon *d, struct sn_config *next);
	/* Called once on SIGTERM/SIGINT; must end with daemon_stop(d)
	 * once drained.  NULL: the loop stops at once. */
	void (*on_stop)(struct sn_daemon *d);
	void *arg;    /* the daemon's own state */
	int stopping; /* set once a stop signal arrived */
	struct event *sig_ev[4];
	/* ingestd: the HTTP listener the supervisor bound for it (a
	 * privileged port under security.user, privs.h), -1: bind it. */
	int http_fd;
};

/* Parses args, loads config, inits log, switches user when started as
 * root with security.user, sets up the sandbox (privs.h), inits the loop.
 * Exits on error. */
void daemon_init(struct sn_daemon *d, const char *name, int argc, char **argv);
void daemon_ready(struct sn_daemon *d);
/* Runs the loop; returns the exit code (0). */
int daemon_run(struct sn_daemon *d);
/* Ends the loop (from on_stop when draining is done). */
void daemon_stop(struct sn_daemon *d);
void daemon_free(struct sn_daemon *d);

/*
 * Listens on the pull endpoint name (SN_IPC_*) under run_dir, creating
 * run_dir if needed, or dials a push endpoint there.  Failing to is
 * fatal (exit 1): the supervisor restarts the daemon with backoff.
 */
struct ipc_in *daemon_pull_listen(struct sn_daemon *d, const char *name,
                                  ipc_msg_cb cb, void *arg);
struct ipc_out *daemon_push_dial(struct sn_daemon *d, const char *name,
                                 size_t max_queued);

/* Applies the config's log level and format (used at start and reload). */
void daemon_apply_logging(const struct sn_config *cfg);

#endif
