/*
 * setstate.c: what ingestd knows about the rest of the daemon set.
 *
 * The supervisor publishes SN_MSG_SET_STATE on state.ipc every second
 * and on every change; ingestd subscribes and keeps the latest complete
 * message.  /ready and /api/v1/health read it.  A state older than
 * SETSTATE_FRESH_MS means the supervisor is gone or stuck, and counts as
 * no state at all.
 */
#include <stdio.h>
#include <string.h>

#include "ingestd.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"

static void
setstate_msg_cb(const void *data, size_t len, void *arg)
{
	struct setstate *s = arg;

	if (setstate_apply(s, data, len, sn_mono_ms()) < 0 && s->bad++ == 0)
		log_warnx("malformed set state message from the supervisor "
		          "(%zu bytes) ignored",
		          len);
}

int
setstate_open(struct setstate *s, struct event_base *base, const char *run_dir)
{
	char url[256];

	memset(s, 0, sizeof(*s));
	if (ipc_url(url, sizeof(url), run_dir, SN_IPC_STATE) < 0) {
		log_warnx("run_dir %s: path too long for a socket", run_dir);
		return -1;
	}
	if ((s->in = ipc_sub_dial(base, url, setstate_msg_cb, s)) == NULL)
		return -1;
	return 0;
}

int
setstate_apply(struct setstate *s, const void *data, size_t len,
               int64_t now_mono_ms)
{
	struct setstate_daemon next[SETSTATE_MAX];
	struct sn_daemon_status st;
	struct msg_reader r;
	size_t n = 0;
	int rc;

	if (msg_open(&r, data, len) < 0 || r.type != SN_MSG_SET_STATE)
		return -1;
	/* Decode the whole message aside; adopt it only when it is good. */
	while ((rc = msg_next_daemon_status(&r, &st)) == 1) {
		if (n == SETSTATE_MAX || st.name.len == 0 ||
		    st.name.len >= SETSTATE_NAME_MAX)
			return -1;
		memcpy(next[n].name, st.name.p, st.name.len);
		next[n].name[st.name.len] = '\0';
		next[n].state = st.state;
		next[n].pid = st.pid;
		next[n].since_ms = st.since_ms;
		next[n].restarts = st.restarts;
		n++;
	}
	if (rc < 0)
		return -1;
	memcpy(s->daemons, next, n * sizeof(next[0]));
	s->ndaemons = n;
	s->recv_mono_ms = now_mono_ms;
	return 0;
}

int
setstate_fresh(const struct setstate *s, int64_t now_mono_ms)
{
	return s->recv_mono_ms != 0 &&
	       now_mono_ms - s->recv_mono_ms <= SETSTATE_FRESH_MS;
}

void
setstate_close(struct setstate *s)
{
	ipc_in_free(s->in);
	memset(s, 0, sizeof(*s));
}
