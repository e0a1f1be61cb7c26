/*
 * inhibit.h: the alerts firing now, and the inhibit rules over them.
 *
 * As in Alertmanager, an alert (the target) is muted while another
 * alert (the source) fires that matches a rule's source_match and
 * source_match_re, the target matches its target_match and
 * target_match_re, and both have the same value for every label named in
 * `equal` (a label both lack counts as equal).  An alert never inhibits
 * itself.  Every firing alert counts as a source, routed or not.
 *
 * The firing alerts live in the table active_alerts of alertd's database
 * (the outbox's handle), so inhibition holds across restarts.
 */
#ifndef SN_INHIBIT_H
#define SN_INHIBIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "config.h"
#include "notify.h"

struct inhibitor;

/* Opens (creating the table if needed) and loads.  NULL (logged) on
 * error. */
struct inhibitor *inhibitor_open(sqlite3 *db);
void inhibitor_free(struct inhibitor *in);

/* Records that al fires (or, resolved, no longer does).  0 or -1. */
int inhibitor_observe(struct inhibitor *in, const struct notify_alert *al,
                      int64_t now_ms);

/*
 * The rule of al muting an alert with these labels and fingerprint, or
 * NULL when none does.
 */
const struct sn_inhibit_rule *inhibitor_muting(const struct inhibitor *in,
                                               const struct sn_alerts *al,
                                               const json_t *labels,
                                               const char *fingerprint);

/* How many alerts fire now. */
size_t inhibitor_count(const struct inhibitor *in);

/* The firing alerts as a JSON array of {"fingerprint", "labels",
 * "since_ms"}.  New reference. */
json_t *inhibitor_json(const struct inhibitor *in);

#endif
