/*
 * proc.c: the process table and the restart state machine of proc.h.
 * Nothing here forks, signals or reads a clock: the supervisor (sup.c)
 * does that and asks these functions what comes next.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon.h"
#include "proc.h"

const struct proc_desc proc_table[PROC_COUNT] = {
        {"stored", "sentinel-stored"},
        {"alertd", "sentinel-alertd"},
        {"detectd", "sentinel-detectd"},
        {"ingestd", "sentinel-ingestd"},
};

/* ingestd, detectd, alertd, stored. */
const int proc_stop_order[PROC_COUNT] = {3, 2, 1, 0};

static void
proc_set_state(struct proc *p, enum sn_daemon_state state, int64_t now_ms)
{
	p->state = state;
	p->since_ms = now_ms;
}

void
proc_init(struct proc *p, const struct proc_desc *desc, int64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->desc = desc;
	p->backoff_ms = PROC_BACKOFF_MIN_MS;
	proc_set_state(p, SN_DAEMON_STOPPED, now_ms);
}

void
proc_on_spawn(struct proc *p, pid_t pid, int64_t now_ms)
{
	if (p->spawns++ > 0)
		p->restarts++;
	p->pid = pid;
	p->started_ms = now_ms;
	p->up_ms = 0;
	proc_set_state(p, SN_DAEMON_STARTING, now_ms);
}

bool
proc_on_ready(struct proc *p, int64_t now_ms)
{
	/* A READY after a stop was asked for changes nothing. */
	if (p->state != SN_DAEMON_STARTING)
		return false;
	p->up_ms = now_ms;
	proc_set_state(p, SN_DAEMON_UP, now_ms);
	return true;
}

enum proc_action
proc_on_exit(struct proc *p, int64_t now_ms, int wstatus, int64_t *delay_ms)
{
	enum sn_daemon_state was = p->state;

	*delay_ms = 0;
	p->pid = 0;
	p->last_status = wstatus;
	p->exited = true;

	if (was == SN_DAEMON_STOPPING) {
		proc_set_state(p, SN_DAEMON_STOPPED, now_ms);
		return PROC_ACT_NONE;
	}
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == SN_EXIT_PERMANENT) {
		proc_set_state(p, SN_DAEMON_FAILED, now_ms);
		return PROC_ACT_NONE;
	}

	/* A long healthy run forgets earlier crashes (nginx, s6). */
	if (p->up_ms != 0 && now_ms - p->up_ms >= PROC_HEALTHY_MS)
		p->backoff_ms = PROC_BACKOFF_MIN_MS;
	*delay_ms = p->backoff_ms;
	p->backoff_ms *= 2;
	if (p->backoff_ms > PROC_BACKOFF_MAX_MS)
		p->backoff_ms = PROC_BACKOFF_MAX_MS;
	p->up_ms = 0;
	proc_set_state(p, SN_DAEMON_BACKOFF, now_ms);
	return PROC_ACT_RESTART;
}

enum proc_action
proc_on_stop(struct proc *p, int64_t now_ms)
{
	switch (p->state) {
	case SN_DAEMON_STARTING:
	case SN_DAEMON_UP:
		proc_set_state(p, SN_DAEMON_STOPPING, now_ms);
		return PROC_ACT_SIGNAL;
	case SN_DAEMON_BACKOFF:
		proc_set_state(p, SN_DAEMON_STOPPED, now_ms);
		return PROC_ACT_CANCEL;
	default:
		return PROC_ACT_NONE;
	}
}

bool
proc_running(const struct proc *p)
{
	return p->state == SN_DAEMON_STARTING || p->state == SN_DAEMON_UP ||
	       p->state == SN_DAEMON_STOPPING;
}

char *
proc_status_str(int wstatus, char *buf, size_t size)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, size, "exit %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, size, "signal %d%s", WTERMSIG(wstatus),
		         WCOREDUMP(wstatus) ? " (core)" : "");
	else
		snprintf(buf, size, "status 0x%x", (unsigned)wstatus);
	return buf;
}

int
proc_find(const char *name)
{
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		if (strcmp(proc_table[i].name, name) == 0)
			return i;
	return -1;
}
