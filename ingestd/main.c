/*
 * sentinel-ingestd: takes telemetry events over HTTP and gRPC, validates
 * them and pushes them in batches to stored and detectd.
 *
 * Started by the supervisor as `sentinel-ingestd [--config FILE]`.  Exit
 * 1 when the HTTP or gRPC port cannot be bound (the supervisor retries with
 * backoff), 2 on a bad config (API keys and TLS certificate included).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "grpc.h"
#include "ingestd.h"
#include "log.h"

#define INGESTD_DRAIN_MS 3000 /* at stop, to hand queued batches over */

struct ingestd {
	struct fwd fwd;
	struct setstate state;
	struct http_server http;
	struct gsrv *grpc; /* gRPC on ingestion.grpc.port (grpc.c) */
};

/* SIGTERM: stop taking requests, send what is pending, then exit. */
static void
ingestd_stop(struct sn_daemon *d)
{
	struct ingestd *st = d->arg;

	http_stop(&st->http);
	gsrv_stop(st->grpc);
	fwd_drain(&st->fwd, INGESTD_DRAIN_MS);
	log_info("stopped after %llu events accepted, %llu rejected, "
	         "%llu refused",
	         (unsigned long long)st->http.accepted,
	         (unsigned long long)st->http.rejected,
	         (unsigned long long)st->http.refused);
	daemon_stop(d);
}

/*
 * SIGHUP: limits apply at once; a new address needs a restart.  The API
 * keys (with keys_file, read again) and the TLS certificate are loaded
 * first: when either fails, the whole new config is refused and the
 * running one kept (style.md 11), so a broken keys file or certificate
 * never leaves ingestd half reloaded.
 */
static int
ingestd_reload(struct sn_daemon *d, struct sn_config *next)
{
	struct ingestd *st = d->arg;
	const struct sn_config *cur = d->cfg;
	const char *oh = cur->http.host ? cur->http.host : "";
	const char *nh = next->http.host ? next->http.host : "";

	if (http_set_security(&st->http, next) < 0) {
		log_warnx("HTTP API keys or TLS certificate invalid: keeping "
		          "the running configuration, keys and certificate");
		return -1;
	}
	http_set_limits(&st->http, next);
	fwd_set_limits(&st->fwd, next);
	if (strcmp(oh, nh) != 0 || cur->http.port != next->http.port)
		log_warnx("ingestion.http host or port changed to %s port "
		          "%d: restart ingestd to listen there (still on "
		          "%s port %d)",
		          nh, next->http.port, oh, cur->http.port);
	if (cur->grpc.port != next->grpc.port ||
	    cur->grpc.tls.enabled != next->grpc.tls.enabled ||
	    cur->http.max_body_bytes != next->http.max_body_bytes)
		log_warnx(
		        "ingestion.grpc (port, TLS) or max_body_size changed: "
		        "restart ingestd for gRPC to use them");
	if (strcmp(cur->run_dir, next->run_dir) != 0)
		log_warnx("run_dir changed: restart the set to use it");
	return 0;
}

int
main(int argc, char **argv)
{
	struct sn_daemon d;
	struct ingestd st;
	int rc;

	daemon_init(&d, "ingestd", argc, argv);
	memset(&st, 0, sizeof(st));
	d.arg = &st;
	d.on_stop = ingestd_stop;
	d.on_reload = ingestd_reload;

	if (fwd_open(&st.fwd, d.base, d.cfg) < 0)
		fatalx("cannot open the spool or the pipeline sockets");
	if (setstate_open(&st.state, d.base, d.cfg->run_dir) < 0)
		fatalx("cannot subscribe to the set state");
	if ((rc = http_open(&st.http, &d, &st.fwd, &st.state)) < 0)
		exit(rc == -2 ? SN_EXIT_PERMANENT : 1);
	if (d.cfg->grpc.port == 0)
		log_info("gRPC off (ingestion.grpc.port: 0)");
	else if ((rc = gsrv_open(&st.grpc, &d, &st.http)) < 0)
		exit(rc == -2 ? SN_EXIT_PERMANENT : 1);

	daemon_ready(&d);
	rc = daemon_run(&d);

	gsrv_close(st.grpc);
	http_close(&st.http);
	fwd_close(&st.fwd);
	setstate_close(&st.state);
	daemon_free(&d);
	return rc;
}
