/*
 * tls.c: the TLS side of ingestd's HTTP port (tls.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls.h"
#include "util.h"

/* Sessions resumed on one ingestd only: any fixed name will do. */
static const unsigned char tls_session_ctx[] = "sentinel-ingestd";

/* OpenSSL's last error as text ("no such file", "key values mismatch"),
 * emptying its queue. */
static const char *
tls_err_text(char *buf, size_t size)
{
	unsigned long e, last = 0;
	const char *r;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return "unknown error";
	if ((r = ERR_reason_error_string(last)) != NULL)
		snprintf(buf, size, "%s", r);
	else
		ERR_error_string_n(last, buf, size);
	return buf;
}

/* A file OpenSSL is about to read: a clear message when it cannot be
 * (OpenSSL's own says "system lib").  Returns 0 when readable. */
static int
tls_check_file(const char *key, const char *path, struct sn_cfg_errors *errs)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		cfg_errors_add(errs,
		               "ingestion.http.tls.%s: cannot read %s: %s", key,
		               path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(fd);
		cfg_errors_add(errs, "ingestion.http.tls.%s: %s is not a file",
		               key, path);
		return -1;
	}
	close(fd);
	return 0;
}

/* An encrypted key would make OpenSSL prompt on the terminal: a daemon
 * has none, so there is no passphrase. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* Fills tc's description of its certificate and warns when it is out of
 * its validity period (clients will refuse it). */
static void
tls_describe(struct tls_conf *tc, const char *path)
{
	X509 *x = SSL_CTX_get0_certificate(tc->ctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	const ASN1_TIME *na;
	struct tm tm;
	int64_t ms = 0;

	if (x == NULL)
		return;
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1)
		for (i = 0; i < mdlen && 2 * i + 2 < sizeof(tc->sha256); i++)
			snprintf(tc->sha256 + 2 * i, 3, "%02x", md[i]);
	X509_NAME_oneline(X509_get_subject_name(x), tc->subject,
	                  sizeof(tc->subject));
	na = X509_get0_notAfter(x);
	memset(&tm, 0, sizeof(tm));
	if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1) {
		ms = (int64_t)timegm(&tm) * 1000;
		sn_rfc3339_format(ms, tc->not_after, sizeof(tc->not_after));
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		log_kv(LOG_LEVEL_WARN,
		       "the HTTP TLS certificate is not valid yet", "file",
		       path, "subject", tc->subject, NULL);
	if (na != NULL && X509_cmp_current_time(na) < 0)
		log_kv(LOG_LEVEL_WARN,
		       "the HTTP TLS certificate has expired: clients will "
		       "refuse it",
		       "file", path, "not_after", tc->not_after, NULL);
}

/* The client CA of mutual TLS: trusted for verifying, and named to
 * clients so they pick the right certificate. */
static int
tls_client_ca(struct tls_conf *tc, const char *ca, struct sn_cfg_errors *errs)
{
	STACK_OF(X509_NAME) * names;
	char eb[256];

	if (tls_check_file("client_ca_file", ca, errs) < 0)
		return -1;
	if (SSL_CTX_load_verify_locations(tc->ctx, ca, NULL) != 1) {
		cfg_errors_add(errs,
		               "ingestion.http.tls.client_ca_file: %s: no CA "
		               "certificate in it: %s",
		               ca, tls_err_text(eb, sizeof(eb)));
		return -1;
	}
	if ((names = SSL_load_client_CA_file(ca)) == NULL) {
		cfg_errors_add(errs,
		               "ingestion.http.tls.client_ca_file: %s: no CA "
		               "certificate in it: %s",
		               ca, tls_err_text(eb, sizeof(eb)));
		return -1;
	}
	SSL_CTX_set_client_CA_list(tc->ctx, names);
	SSL_CTX_set_verify(tc->ctx,
	                   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
	                           SSL_VERIFY_CLIENT_ONCE,
	                   NULL);
	tc->mtls = true;
	return 0;
}

struct tls_conf *
tls_conf_new(const struct sn_tls *t, struct sn_cfg_errors *errs)
{
	struct tls_conf *tc;
	size_t before = errs->count;
	char eb[256];

	if (t->cert_file == NULL || t->key_file == NULL) {
		cfg_errors_add(errs, "ingestion.http.tls: enabled needs "
		                     "cert_file and key_file");
		return NULL;
	}
	if (tls_check_file("cert_file", t->cert_file, errs) < 0 ||
	    tls_check_file("key_file", t->key_file, errs) < 0)
		return NULL;
	tc = sn_xcalloc(1, sizeof(*tc));
	ERR_clear_error();
	if ((tc->ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("out of memory");
	SSL_CTX_set_min_proto_version(tc->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(tc->ctx, SSL_OP_NO_RENEGOTIATION |
	                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle kept-alive connections give their buffers back. */
	SSL_CTX_set_mode(tc->ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(tc->ctx, tls_no_passphrase);
	SSL_CTX_set_session_id_context(tc->ctx, tls_session_ctx,
	                               sizeof(tls_session_ctx) - 1);
	if (SSL_CTX_use_certificate_chain_file(tc->ctx, t->cert_file) != 1)
		cfg_errors_add(errs,
		               "ingestion.http.tls.cert_file: %s: not a PEM "
		               "certificate chain: %s",
		               t->cert_file, tls_err_text(eb, sizeof(eb)));
	else if (SSL_CTX_use_PrivateKey_file(tc->ctx, t->key_file,
	                                     SSL_FILETYPE_PEM) != 1)
		cfg_errors_add(errs,
		               "ingestion.http.tls.key_file: %s: not a PEM "
		               "private key without a passphrase: %s",
		               t->key_file, tls_err_text(eb, sizeof(eb)));
	else if (SSL_CTX_check_private_key(tc->ctx) != 1)
		cfg_errors_add(
		        errs,
		        "ingestion.http.tls.key_file: %s does not belong "
		        "to the certificate in %s: %s",
		        t->key_file, t->cert_file,
		        tls_err_text(eb, sizeof(eb)));
	if (errs->count == before && t->client_ca_file != NULL)
		(void)tls_client_ca(tc, t->client_ca_file, errs);
	if (errs->count > before) {
		tls_conf_free(tc);
		return NULL;
	}
	tls_describe(tc, t->cert_file);
	return tc;
}

void
tls_conf_free(struct tls_conf *tc)
{
	if (tc == NULL)
		return;
	/* Connections made from it hold their own references. */
	SSL_CTX_free(tc->ctx);
	free(tc);
}

struct bufferevent *
tls_bufferevent_new(struct event_base *base, const struct tls_conf *tc)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(tc->ctx)) == NULL)
		return NULL;
	/* fd -1: evhttp sets the accepted socket; the handshake starts
	 * then, as a server. */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	                                     BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A client closing without close_notify (most do, after their
	 * answer) is an end of the connection, not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

bool
tls_is_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

bool
tls_handshake_done(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl == NULL || SSL_is_init_finished(ssl);
}

const char *
tls_handshake_error(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e, first = 0;
	const char *r;

	if (ssl == NULL || SSL_is_init_finished(ssl))
		return NULL;
	/* The most recent first; empty the list. */
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (first == 0)
			first = e;
	if (first == 0)
		return NULL;
	r = ERR_reason_error_string(first);
	return r != NULL ? r : "handshake failed";
}

void
tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
}
