/*
 * exporter.h: the Prometheus exporter of the daemon set, in the
 * supervisor: GET /metrics on observability.metrics.host:port renders
 * every daemon's metrics file (common/metrics.h) and the supervisor's
 * own series (build, up, restarts, each process's CPU, memory and open
 * files), read at scrape time.  docs/observability.md lists the metrics.
 */
#ifndef SN_EXPORTER_H
#define SN_EXPORTER_H

struct sup;
struct exporter;

/*
 * Opens the supervisor's own metrics file and, when
 * observability.metrics.enabled, listens for scrapes.  A port that
 * cannot be bound is logged and tried again every few seconds: the set
 * runs on without an exporter meanwhile.  Returns NULL only when
 * metrics are disabled.
 */
struct exporter *exporter_start(struct sup *s);
void exporter_free(struct exporter *e);

/* Brings the supervisor's own series up to date (before a read). */
void exporter_refresh(struct sup *s);

#endif
