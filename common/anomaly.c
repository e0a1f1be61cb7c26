/*
 * anomaly.c: the JSON form of an anomaly record (anomaly.h).
 */
#include <math.h>

#include "anomaly.h"
#include "log.h"
#include "util.h"

static json_t *
anomaly_str(struct sn_str s)
{
	return json_stringn(s.p ? s.p : "", s.len);
}

static json_t *
anomaly_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *
anomaly_time(int64_t ms)
{
	char buf[40];

	sn_rfc3339_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

/*
 * The parsed JSON a view holds (labels, event_ids), or dflt when it is
 * empty or does not parse: a bad field must not cost the record.
 */
static json_t *
anomaly_embedded(struct sn_str s, json_t *dflt)
{
	json_t *j = NULL;

	if (s.len > 0)
		j = json_loadb(s.p, s.len, 0, NULL);
	if (j == NULL)
		return dflt;
	json_decref(dflt);
	return j;
}

json_t *
anomaly_json(const struct sn_anomaly *a)
{
	json_t *o = json_object();

	if (o == NULL)
		fatalx("out of memory");
	json_object_set_new(o, "id", anomaly_str(a->id));
	json_object_set_new(o, "timestamp", anomaly_time(a->ts_ms));
	json_object_set_new(o, "status",
	                    json_string(a->status == SN_ANOMALY_RESOLVED
	                                        ? "resolved"
	                                        : "firing"));
	json_object_set_new(o, "detector_id", anomaly_str(a->detector_id));
	json_object_set_new(o, "detector_type", anomaly_str(a->detector_type));
	json_object_set_new(o, "alert", anomaly_str(a->alert));
	json_object_set_new(o, "severity", anomaly_str(a->severity));
	json_object_set_new(o, "labels",
	                    anomaly_embedded(a->labels, json_object()));
	json_object_set_new(o, "application_id",
	                    anomaly_str(a->application_id));
	json_object_set_new(o, "model", anomaly_str(a->model));
	json_object_set_new(o, "metric", anomaly_str(a->metric));
	json_object_set_new(o, "value", anomaly_num(a->value));
	json_object_set_new(o, "expected", anomaly_num(a->expected));
	json_object_set_new(o, "score", anomaly_num(a->score));
	json_object_set_new(o, "threshold", anomaly_num(a->threshold));
	json_object_set_new(o, "window_start",
	                    anomaly_time(a->window_start_ms));
	json_object_set_new(o, "window_end", anomaly_time(a->window_end_ms));
	json_object_set_new(o, "samples", json_integer((json_int_t)a->samples));
	json_object_set_new(o, "event_id", anomaly_str(a->event_id));
	json_object_set_new(o, "event_ids",
	                    anomaly_embedded(a->event_ids, json_array()));
	json_object_set_new(o, "message", anomaly_str(a->message));
	return o;
}
