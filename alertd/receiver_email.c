/*
 * receiver_email.c: email over SMTP with libcurl.  STARTTLS required by
 * default (smtp.tls: starttls), implicit TLS (tls, port 465) or clear
 * text for a local relay (none); AUTH when a username is configured.
 * The message is notify_email's multipart text and HTML.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "receiver.h"

/* curl: the next piece of the message to upload. */
static size_t
email_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct receiver_request *req = arg;
	size_t room = size * nitems, left = req->body.len - req->body_off;

	if (room > left)
		room = left;
	memcpy(buf, req->body.data + req->body_off, room);
	req->body_off += room;
	return room;
}

/* "<addr>" unless addr is already bracketed. */
static void
email_bracket(const char *addr, char *out, size_t size)
{
	snprintf(out, size, addr[0] == '<' ? "%s" : "<%s>", addr);
}

static int
email_prepare(const struct sn_receiver *rc, const struct notification *n,
              const char *id, struct receiver_request *req, char *reason,
              size_t len)
{
	char url[512], addr[320];
	struct curl_slist *l;
	int port = rc->smtp_port > 0 ? rc->smtp_port : 587;
	size_t i;

	(void)id;
	if (rc->smtp_host == NULL || *rc->smtp_host == '\0' ||
	    rc->from == NULL || rc->nto == 0) {
		snprintf(reason, len, "smtp.host, from and to are required");
		return -1;
	}
	snprintf(url, sizeof(url), "%s://%s:%d",
	         rc->smtp_tls == SN_SMTP_TLS ? "smtps" : "smtp", rc->smtp_host,
	         port);
	receiver_where(url, req->where, sizeof(req->where));
	req->smtp = 1;
	curl_easy_setopt(req->easy, CURLOPT_URL, url);
	if (rc->smtp_tls == SN_SMTP_STARTTLS)
		curl_easy_setopt(req->easy, CURLOPT_USE_SSL,
		                 (long)CURLUSESSL_ALL);
	if (rc->smtp_ca_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_CAINFO, rc->smtp_ca_file);
	if (rc->smtp_username != NULL && *rc->smtp_username) {
		curl_easy_setopt(req->easy, CURLOPT_USERNAME,
		                 rc->smtp_username);
		curl_easy_setopt(req->easy, CURLOPT_PASSWORD,
		                 rc->smtp_password ? rc->smtp_password : "");
	}
	email_bracket(rc->from, addr, sizeof(addr));
	curl_easy_setopt(req->easy, CURLOPT_MAIL_FROM, addr);
	for (i = 0; i < rc->nto; i++) {
		email_bracket(rc->to[i], addr, sizeof(addr));
		if ((l = curl_slist_append(req->rcpt, addr)) == NULL)
			fatalx("out of memory");
		req->rcpt = l;
	}
	curl_easy_setopt(req->easy, CURLOPT_MAIL_RCPT, req->rcpt);
	notify_email(n, rc->from, rc->to, rc->nto, rc->subject_prefix,
	             sn_now_ms(), &req->body);
	curl_easy_setopt(req->easy, CURLOPT_READFUNCTION, email_read);
	curl_easy_setopt(req->easy, CURLOPT_READDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(req->easy, CURLOPT_INFILESIZE_LARGE,
	                 (curl_off_t)req->body.len);
	return 0;
}

const struct receiver_type receiver_email = {
        .name = "email",
        .prepare = email_prepare,
};
