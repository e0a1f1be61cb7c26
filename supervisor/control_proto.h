/*
 * control_proto.h: the control socket protocol, shared by the server
 * (control.c, in sentinel) and the client (cli.c, sentinel-cli).
 *
 * A unix stream socket at <run_dir>/sentinel.sock, mode 0660.  The client
 * writes one JSON object per line, {"command":"status"}, and the server
 * answers each with one JSON object on one line; "ok" is true or false,
 * and a false answer carries "error" (and "errors", a list, for reload).
 * The client may send more lines on the same connection or close it.
 * docs/cli.md describes every command and answer.
 */
#ifndef SN_CONTROL_PROTO_H
#define SN_CONTROL_PROTO_H

/* A request line longer than this is refused and the connection closed. */
#define CONTROL_MAX_LINE (64 * 1024)
/* Connections served at once; more are answered with an error. */
#define CONTROL_MAX_CONNS 64
/* A connection silent this long is closed (seconds). */
#define CONTROL_IDLE_TIMEOUT 30

#define CONTROL_CMD_STATUS  "status"
#define CONTROL_CMD_VERSION "version"
#define CONTROL_CMD_RELOAD  "reload"
/* {"command":"metrics"} lists the metric families; with "name":"X" the
 * samples of X (supervisor/exporter.c). */
#define CONTROL_CMD_METRICS "metrics"
/* The effective configuration, secrets redacted (control_diag.c). */
#define CONTROL_CMD_CONFIG "config"
/* The daemons' recent log lines (control_diag.c). */
#define CONTROL_CMD_LOGS "logs"

#endif
