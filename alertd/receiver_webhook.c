/*
 * receiver_webhook.c: generic webhooks.  POSTs Alertmanager's webhook
 * payload (version "4", notify_webhook_json) to url, with the configured
 * extra headers and, when hmac_secret is set, the signature header
 *   X-Sentinel-Signature: sha256=<hex HMAC-SHA256 of the body>
 * so the receiver can check the body came from us.
 *
 * The HMAC comes from OpenSSL's libcrypto (Debian's libssl), the library
 * libcurl already uses for TLS here.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"

#include "receiver.h"

void
receiver_hmac_sha256_hex(const void *key, size_t klen, const void *msg,
                         size_t mlen, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	/* OpenSSL's one-shot HMAC: the signature must match what receivers
	 * compute with their own libraries, so we use the standard one. */
	if (HMAC(EVP_sha256(), key, (int)klen, msg, mlen, mac, &n) == NULL ||
	    n != 32)
		fatalx("HMAC-SHA256 failed");
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static int
webhook_prepare(const struct sn_receiver *rc, const struct notification *n,
                const char *id, struct receiver_request *req, char *reason,
                size_t len)
{
	char hex[65], sig[80];
	size_t i;

	/* notify_webhook_json's bytes, written without the tree */
	sn_buf_reset(&req->body);
	notify_webhook_write(n, &req->body);
	if (receiver_post_json(req, rc->url, NULL, id, reason, len) < 0)
		return -1;
	for (i = 0; i < rc->nheaders; i++)
		receiver_header(req, rc->headers[i].key,
		                rc->headers[i].value ? rc->headers[i].value
		                                     : "");
	if (rc->hmac_secret != NULL && *rc->hmac_secret) {
		receiver_hmac_sha256_hex(rc->hmac_secret,
		                         strlen(rc->hmac_secret),
		                         req->body.data, req->body.len, hex);
		snprintf(sig, sizeof(sig), "sha256=%s", hex);
		receiver_header(req, "X-Sentinel-Signature", sig);
	}
	return 0;
}

const struct receiver_type receiver_webhook = {
        .name = "webhook",
        .prepare = webhook_prepare,
};
