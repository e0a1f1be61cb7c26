/*
 * grpc.h: gRPC ingestion on ingestion.grpc.port (docs/grpc.md).
 *
 * sentinel.v1.TelemetryService (SendEvent, SendEvents, StreamEvents)
 * and grpc.health.v1.Health on gRPC core's C API.  gRPC core runs on a
 * thread of its own; every decision (API keys, validation, the
 * pipeline, readiness) is taken on the event loop by the same code as
 * HTTP's (http.c), so both doors take and refuse the same events.
 *
 * Only main.c calls these: the rest of ingestd (and sentinel-cli and the
 * unit tests, which link ingestd's code) does not link gRPC.
 */
#ifndef SN_INGESTD_GRPC_H
#define SN_INGESTD_GRPC_H

struct gsrv;
struct http_server;
struct sn_daemon;

/*
 * Listens on ingestion.http.host, port ingestion.grpc.port (TLS with
 * ingestion.grpc.tls), answering with h's keys, limits and pipeline.
 * Returns 0 with *out set, -1 (logged) when the port cannot be bound,
 * or -2 (logged) when the certificate or key cannot be loaded.
 */
int gsrv_open(struct gsrv **out, struct sn_daemon *d, struct http_server *h);
/* Calls arriving from now on are answered UNAVAILABLE; those already
 * in the pipeline are answered when their events are durable. */
void gsrv_stop(struct gsrv *g);
/* After the loop: answers what is left, stops gRPC core and frees g
 * (NULL: nothing). */
void gsrv_close(struct gsrv *g);

#endif
