/*
 * test_config_dump.c: the configuration as the "config" control command
 * shows it keeps every setting and no secret: receivers' passwords,
 * webhook URLs, HMAC secrets, header values and routing keys, API keys,
 * and the credentials and queries of other URLs are redacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "config_dump.h"

static const char *const secrets[] = {
        "SmtpS3cret",          "SlackS3cret",   "HookS3cret",
        "HmacS3cret",          "AuthzS3cret",   "RouteS3cret",
        "ApiKeyS3cret0123456", "UrlPassS3cret", "QueryS3cret",
};

static const char alerts_yaml[] =
        "external_url: https://ops:UrlPassS3cret@sentinel.example.com/x\n"
        "routing:\n"
        "  - match: {severity: critical}\n"
        "    receivers: [mail, slack, hook, pd]\n"
        "receivers:\n"
        "  - name: mail\n"
        "    type: email\n"
        "    config:\n"
        "      smtp: {host: smtp.example.com, username: bob, password: "
        "SmtpS3cret}\n"
        "      from: a@example.com\n"
        "      to: [b@example.com]\n"
        "  - name: slack\n"
        "    type: slack\n"
        "    config:\n"
        "      webhookUrl: https://hooks.slack.com/services/SlackS3cret\n"
        "  - name: hook\n"
        "    type: webhook\n"
        "    config:\n"
        "      url: https://example.com/HookS3cret\n"
        "      hmacSecret: HmacS3cret\n"
        "      headers: {Authorization: Bearer AuthzS3cret}\n"
        "  - name: pd\n"
        "    type: pagerduty\n"
        "    config:\n"
        "      routingKey: RouteS3cret\n"
        "      url: https://pd.example.com/v2/enqueue?token=QueryS3cret\n";

static json_t *
path_get(json_t *v, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(*keys))
		                     : json_object_get(v, *keys);
	return v;
}

#define assert_at(doc, want, ...)                                         \
	do {                                                              \
		static const char *const k_[] = {__VA_ARGS__, NULL};      \
		assert_string_equal(json_string_value(path_get(doc, k_)), \
		                    want);                                \
	} while (0)

static void
test_secrets_redacted_settings_kept(void **state)
{
	struct sn_cfg_errors errs = {0};
	struct sn_config cfg;
	struct sn_api_key key = {0};
	json_t *doc;
	char *text;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_parse_alerts("alerts.yaml", alerts_yaml,
	                                     strlen(alerts_yaml), &cfg.alerts,
	                                     &errs),
	                 0);
	key.key = "ApiKeyS3cret0123456";
	key.name = "chat";
	cfg.http.auth.enabled = true;
	cfg.http.auth.keys = &key;
	cfg.http.auth.nkeys = 1;
	cfg.http.tls.key_file = "/etc/sentinel/tls/key.pem";
	cfg.run_dir = "/run/sentinel";

	doc = config_dump_json(&cfg);
	text = json_dumps(doc, JSON_COMPACT);
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		assert_null(strstr(text, secrets[i]));

	assert_at(doc, "<redacted>", "alerts", "receivers", "0", "config",
	          "smtp", "password");
	assert_at(doc, "bob", "alerts", "receivers", "0", "config", "smtp",
	          "username");
	assert_at(doc, "<redacted>", "alerts", "receivers", "1", "config",
	          "webhookUrl");
	assert_at(doc, "<redacted>", "alerts", "receivers", "2", "config",
	          "url");
	assert_at(doc, "<redacted>", "alerts", "receivers", "2", "config",
	          "hmac_secret");
	assert_at(doc, "<redacted>", "alerts", "receivers", "2", "config",
	          "headers", "Authorization");
	assert_at(doc, "<redacted>", "alerts", "receivers", "3", "config",
	          "routing_key");
	assert_at(doc, "https://pd.example.com/v2/enqueue?<redacted>", "alerts",
	          "receivers", "3", "config", "url");
	assert_at(doc, "https://<redacted>@sentinel.example.com/x", "alerts",
	          "external_url");
	assert_at(doc, "<redacted>", "ingestion", "http", "auth", "keys", "0",
	          "key");
	assert_at(doc, "chat", "ingestion", "http", "auth", "keys", "0",
	          "name");
	/* a key file's path is shown (never its content) */
	assert_at(doc, "/etc/sentinel/tls/key.pem", "ingestion", "http", "tls",
	          "key_file");
	assert_at(doc, "critical", "alerts", "routing", "0", "match",
	          "severity");
	assert_at(doc, "30s", "alerts", "routing", "0", "group_wait");
	assert_at(doc, "/run/sentinel", "run_dir");

	free(text);
	json_decref(doc);
	config_alerts_free(&cfg.alerts);
	cfg_errors_free(&errs);
}

static void
test_url(void **state)
{
	static const char *const cases[][2] = {
	        {"http://127.0.0.1:9000/write", "http://127.0.0.1:9000/write"},
	        {"https://u:p@h:1/a?b=c#d",
	         "https://<redacted>@h:1/a?<redacted>"},
	        {"grpc://shield:9090", "grpc://shield:9090"},
	        {"https://h/p#frag", "https://h/p#<redacted>"},
	        {"user@host:9092", "<redacted>@host:9092"},
	        /* an @ in the path is not a user */
	        {"https://h/a@b", "https://h/a@b"},
	};
	char *s;
	size_t i;

	(void)state;
	assert_null(config_dump_url(NULL));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = config_dump_url(cases[i][0]);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_secrets_redacted_settings_kept),
	        cmocka_unit_test(test_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
