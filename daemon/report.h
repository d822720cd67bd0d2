/* The outcomes report: the store's counters grouped, turned into rates and percentiles, and
 * for the network view stripped of anything that could single a client out. */
#ifndef REFEX_REPORT_H
#define REFEX_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "refex.pb-c.h"
#include "store_report.h"

#define REPORT_DEFAULT_DAYS 90   /* the period when none is given: the 90 days up to today */
#define REPORT_MAX_DAYS     3660 /* the longest period one report covers */
#define REPORT_TOP_REASONS  5    /* decline reasons given per row */

/* What to report, once the request is checked. */
struct report_params {
	const char *agency; /* own view of this agency; NULL: the network view */
	Refex__ReportGrouping by;
	unsigned min_count; /* network view: counts under it (but not 0) are withheld */
	int64_t from_day, to_day;
	int64_t now;
};

/* Fill p's period from from and to (YYYY-MM-DD, NULL or "" for the default) as of now. Returns
 * 0, or -1 with the offending field's JSON name in *field and a message in err. */
int report_period(struct report_params *p, const char *from, const char *to, const char **field,
                  char *err, size_t errlen);

/* Build the report of d for p (NULL: out of memory). Free with report_free. */
Refex__Report *report_build(const struct store_report_data *d, const struct report_params *p);

/* Free a report built by report_build. NULL is fine. */
void report_free(Refex__Report *r);

#endif
