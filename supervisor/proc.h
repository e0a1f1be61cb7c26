/*
 * proc.h: the supervised processes as data, and the restart policy as a
 * small state machine with no system calls in it (style.md 2, 3), so
 * test/unit/test_proc.c can drive it with made-up times.
 *
 * The policy, after nginx and s6:
 *
 *   - a child that exits with 2 (SN_EXIT_PERMANENT: bad config or a
 *     permanent error) is failed and never respawned;
 *   - any other exit, or death by a signal, is restarted after a delay
 *     that starts at 100 ms and doubles up to 30 s;
 *   - the delay goes back to 100 ms once the child has been up (READY
 *     announced) for 60 s, so one crash a day never waits 30 s;
 *   - a stop asked for while the child waits in backoff just cancels the
 *     restart.
 *
 * Times are monotonic milliseconds passed in by the caller.
 */
#ifndef SN_PROC_H
#define SN_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"

#define PROC_BACKOFF_MIN_MS 100
#define PROC_BACKOFF_MAX_MS 30000
#define PROC_HEALTHY_MS     60000 /* up this long: backoff starts over */
#define PROC_COUNT          4

/* One line of the process table. */
struct proc_desc {
	const char *name; /* "stored": logs, status, SET_STATE */
	const char *exe;  /* "sentinel-stored": file name of the program */
};

/*
 * The daemon set in start order (storage first, ingest last, so that
 * consumers are listening when producers dial), and the stop order as
 * indexes into it (ingest first, storage last, so in-flight events drain
 * downstream before their consumer goes).
 */
extern const struct proc_desc proc_table[PROC_COUNT];
extern const int proc_stop_order[PROC_COUNT];

/* The policy's view of one child; the supervisor adds fds and events. */
struct proc {
	const struct proc_desc *desc;
	enum sn_daemon_state state;
	pid_t pid;          /* 0 when not running */
	int64_t since_ms;   /* last state change */
	int64_t started_ms; /* last fork */
	int64_t up_ms;      /* READY of the current run, 0 if not yet */
	int64_t backoff_ms; /* the delay the next restart will wait */
	uint32_t spawns;    /* forks so far */
	uint32_t restarts;  /* forks after the first */
	int last_status;    /* wait status of the last exit */
	bool exited;        /* last_status is meaningful */
};

/* What the supervisor must do after an event. */
enum proc_action {
	PROC_ACT_NONE = 0, /* nothing */
	PROC_ACT_RESTART,  /* arm the restart timer with the given delay */
	PROC_ACT_SIGNAL,   /* send SIGTERM to pid and wait for its exit */
	PROC_ACT_CANCEL,   /* disarm the restart timer */
};

/* Sets p to stopped with a fresh backoff. */
void proc_init(struct proc *p, const struct proc_desc *desc, int64_t now_ms);

/* The child was forked as pid: starting.  Counts restarts. */
void proc_on_spawn(struct proc *p, pid_t pid, int64_t now_ms);

/* The child wrote READY.  Returns true when this made it up. */
bool proc_on_ready(struct proc *p, int64_t now_ms);

/*
 * The child exited with wait status wstatus.  Returns PROC_ACT_RESTART
 * with *delay_ms set (state backoff), or PROC_ACT_NONE when it must stay
 * down (failed on exit 2, or stopped because a stop was asked for).
 */
enum proc_action proc_on_exit(struct proc *p, int64_t now_ms, int wstatus,
                              int64_t *delay_ms);

/*
 * A stop is asked for.  Running (starting or up): PROC_ACT_SIGNAL and
 * state stopping.  In backoff: PROC_ACT_CANCEL and state stopped.
 * Otherwise (stopped, failed, already stopping) PROC_ACT_NONE.
 */
enum proc_action proc_on_stop(struct proc *p, int64_t now_ms);

/* True while a process exists for p (starting, up or stopping). */
bool proc_running(const struct proc *p);

/*
 * Describes a wait status as "exit 1" or "signal 9" (plus " (core)")
 * into buf.  Returns buf.
 */
char *proc_status_str(int wstatus, char *buf, size_t size);

/* Index of the table entry named name, or -1. */
int proc_find(const char *name);

#endif
