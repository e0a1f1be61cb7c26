/*
 * anomaly.h: the JSON form of an anomaly record, one definition for
 * every place that shows one: replay's output, alertd's log line, the
 * docs (docs/detection.md, "The record").
 */
#ifndef SN_ANOMALY_H
#define SN_ANOMALY_H

#include <jansson.h>

#include "event.h"

/*
 * The record as a JSON object: id, timestamp, status, detector_id,
 * detector_type, alert, severity, labels, application_id, model, metric,
 * value, expected, score, threshold (numbers that are not finite are
 * null), window_start, window_end, samples, event_id, event_ids, message.
 * detected_ms is left out so that a replay's output is byte-identical
 * from run to run.  Never NULL; new reference.
 */
json_t *anomaly_json(const struct sn_anomaly *a);

#endif
