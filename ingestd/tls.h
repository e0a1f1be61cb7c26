/*
 * tls.h: TLS on ingestd's HTTP port (docs/http-api.md "TLS"), with
 * libevent's bufferevent_openssl and OpenSSL.
 *
 * A struct tls_conf is one loaded certificate, key and (for mutual TLS)
 * client CA, in an SSL_CTX.  Each connection's SSL holds a reference to
 * the SSL_CTX it was made from, so a reload builds a new tls_conf, and
 * new connections use it while open ones keep theirs: freeing the old
 * tls_conf only drops its own reference.
 *
 * TLS 1.2 and 1.3 only, OpenSSL's default ciphers, no renegotiation.  With
 * client_ca_file every client must present a certificate that CA signed,
 * or the handshake fails.
 */
#ifndef SN_TLS_H
#define SN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct bufferevent;
struct event_base;
struct ssl_ctx_st;

struct tls_conf {
	struct ssl_ctx_st *ctx;
	bool mtls;          /* client certificates required */
	char sha256[65];    /* of the certificate (DER), hex */
	char subject[256];  /* its subject, one line */
	char not_after[32]; /* its expiry, RFC 3339 */
};

/*
 * Loads t's certificate chain, key and client CA into a new tls_conf.
 * Returns it, or NULL with every problem added to errs as
 * "ingestion.http.tls.KEY: FILE: problem".  Free with tls_conf_free.
 */
struct tls_conf *tls_conf_new(const struct sn_tls *t,
                              struct sn_cfg_errors *errs);
void tls_conf_free(struct tls_conf *tc);

/*
 * The bufferevent of a new connection, accepting TLS with tc's context:
 * no socket yet (evhttp sets it), closes the socket when freed.  NULL
 * when out of memory.
 */
struct bufferevent *tls_bufferevent_new(struct event_base *base,
                                        const struct tls_conf *tc);

/* Whether bev is a TLS bufferevent. */
bool tls_is_tls(struct bufferevent *bev);

/* Whether bev's handshake is done (true for a plain bufferevent). */
bool tls_handshake_done(struct bufferevent *bev);

/*
 * Why bev's handshake failed (OpenSSL's reason: "peer did not return a
 * certificate", "http request"), or NULL when it did not fail (it
 * finished, or the peer just went away) or bev is not TLS.
 */
const char *tls_handshake_error(struct bufferevent *bev);

/* Sends TLS's close_notify on bev when its handshake is done: the end of
 * the answer on a connection ingestd closes.  Nothing for plain bev. */
void tls_close_notify(struct bufferevent *bev);

#endif
