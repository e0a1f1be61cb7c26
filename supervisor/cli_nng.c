/*
 * cli_nng.c: one JSON request and its answer over an nng req socket to
 * a daemon's endpoint under the run_dir (detectd's detectd-ctl.ipc,
 * stored's stored-query.ipc), with a timeout, so a hung daemon makes
 * the command fail instead of hanging the shell.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "cli.h"
#include "ipc.h"

/* Longest answer accepted (a storage check is a few kilobytes). */
#define CLI_NNG_MAX_REPLY (16 * 1024 * 1024)

json_t *
cli_nng_request(const struct cli_opts *o, const char *endpoint,
                const char *daemon, json_t *req, int timeout_ms)
{
	char run_dir[512], url[640];
	nng_socket sock;
	json_error_t jerr;
	json_t *reply = NULL;
	char *text, *buf = NULL;
	size_t len = 0;
	int rv;

	if (cli_run_dir(o, run_dir, sizeof(run_dir)) < 0)
		return NULL;
	if (ipc_url(url, sizeof(url), run_dir, endpoint) < 0) {
		fprintf(stderr, "sentinel-cli: path too long: %s/%s\n", run_dir,
		        endpoint);
		return NULL;
	}
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "sentinel-cli: out of memory\n");
		return NULL;
	}
	if ((rv = nng_req0_open(&sock)) != 0) {
		fprintf(stderr, "sentinel-cli: nng_req0_open: %s\n",
		        nng_strerror(rv));
		free(text);
		return NULL;
	}
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms);
	/* A long request (a backup) must not be sent twice. */
	nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, CLI_NNG_MAX_REPLY);
	/* Flags 0: a synchronous dial, so "nobody listens" fails here
	 * rather than after the timeout. */
	if ((rv = nng_dial(sock, url, NULL, 0)) != 0) {
		fprintf(stderr,
		        "sentinel-cli: cannot reach %s at %s/%s: %s "
		        "(is sentinel running?)\n",
		        daemon, run_dir, endpoint, nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_send(sock, text, strlen(text), 0)) != 0) {
		fprintf(stderr, "sentinel-cli: sending to %s: %s\n", daemon,
		        nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_recv(sock, &buf, &len, NNG_FLAG_ALLOC)) != 0) {
		fprintf(stderr, "sentinel-cli: no answer from %s: %s\n", daemon,
		        rv == NNG_ETIMEDOUT ? "timed out" : nng_strerror(rv));
		goto out;
	}
	reply = json_loadb(buf, len, 0, &jerr);
	if (reply == NULL || !json_is_object(reply)) {
		fprintf(stderr, "sentinel-cli: bad answer from %s: %s\n",
		        daemon, reply == NULL ? jerr.text : "not an object");
		json_decref(reply);
		reply = NULL;
	}
	nng_free(buf, len);
out:
	nng_close(sock);
	free(text);
	return reply;
}

json_t *
cli_ctl_ask(const struct cli_opts *o, const char *endpoint, const char *daemon,
            const char *name, json_t *req)
{
	json_t *reply;

	if (req == NULL) {
		fprintf(stderr, "sentinel-cli: out of memory\n");
		return NULL;
	}
	reply = cli_nng_request(o, endpoint, daemon, req, CLI_CTL_TIMEOUT_MS);
	json_decref(req);
	return cli_reply_ok(o, name, reply);
}

json_t *
cli_reply_ok(const struct cli_opts *o, const char *name, json_t *reply)
{
	if (reply == NULL)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (o->json)
			cli_print_json(reply);
		else
			fprintf(stderr, "sentinel-cli: %s: %s\n", name,
			        cli_str(reply, "error", "refused"));
		json_decref(reply);
		return NULL;
	}
	return reply;
}
