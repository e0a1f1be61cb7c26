/*
 * strategy.c: the table of scoring strategies for statistical detectors
 * (one file each: strategy_zscore.c, ...), and the direction rule they
 * share.  Adding a strategy means one file and one line here.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "strategy.h"

static const struct strategy *const strategy_table[] = {
        &strategy_zscore, &strategy_mad,   &strategy_iqr,
        &strategy_ewma,   &strategy_cusum, &strategy_auto,
};

const char *const strategy_names[] = {
        "zscore", "mad", "iqr", "ewma", "cusum", "auto", NULL,
};

/* The strategy named name, or NULL (also for a NULL name). */
const struct strategy *
strategy_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(strategy_table) / sizeof(strategy_table[0]); i++)
		if (strcmp(strategy_table[i]->name, name) == 0)
			return strategy_table[i];
	return NULL;
}

/*
 * Whether score is anomalous under p's threshold and direction: up (+1)
 * fires at score >= threshold, down (-1) at score <= -threshold, both
 * (0, or anything else) at |score| >= threshold.  A NaN score never
 * fires.  The threshold is used as given: callers put the strategy's
 * default in p when the detector has none.
 */
int
strategy_is_anomalous(const struct strategy_params *p, double score)
{
	if (isnan(score))
		return 0;
	if (p->direction > 0)
		return score >= p->threshold;
	if (p->direction < 0)
		return score <= -p->threshold;
	return fabs(score) >= p->threshold;
}
