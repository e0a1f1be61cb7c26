/*
 * config_dump.h: the effective configuration as JSON, for the
 * supervisor's "config" control command and `sentinel-cli diagnostics
 * collect`.
 *
 * Keys follow the files' own (config.yaml, detectors.yaml under
 * "detectors", alerts.yaml under "alerts"), with every default applied
 * and every path resolved; durations are written as durations ("30s"),
 * sizes in bytes.  Secrets never appear: API keys (and their hashes),
 * SMTP passwords, Slack webhook URLs, webhook URLs, HMAC secrets,
 * PagerDuty routing keys and the value of every extra webhook header
 * are shown as config_redact() does ("<redacted>", "" when empty, null
 * when absent), and a user, password or query in any other URL becomes
 * "<redacted>".  Key and certificate file paths are shown, never what
 * the files hold.
 */
#ifndef SN_CONFIG_DUMP_H
#define SN_CONFIG_DUMP_H

#include "config.h"

struct json_t;

/* A new JSON object (caller decrefs); never NULL. */
struct json_t *config_dump_json(const struct sn_config *cfg);

/*
 * A new copy of url with its userinfo ("user:pass@") and its query
 * ("?token=...") replaced by "<redacted>"; NULL when url is NULL.
 */
char *config_dump_url(const char *url);

#endif
