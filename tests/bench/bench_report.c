/* refex-bench --report: time the outcomes report over a store file, as the hub makes it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "report.h"
#include "store.h"
#include "store_report.h"

#define REPORT_RUNS 21

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Make one report of agency (NULL: the network) over the last days; *rows its rows. */
static int report_once(struct store *st, const char *agency, long days, size_t *rows)
{
	struct report_params p = {.agency = agency,
	                          .by = REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY,
	                          .min_count = 5,
	                          .now = (int64_t)time(NULL)};
	struct store_report_data d;
	Refex__Report *r;

	p.to_day = p.now / 86400;
	p.from_day = p.to_day - (days - 1);
	if (store_report_read(st,
	                      &(struct store_report_query){.agency = agency,
	                                                   .from_day = p.from_day,
	                                                   .to_day = p.to_day,
	                                                   .reasons = agency != NULL},
	                      &d) != STORE_OK) {
		return -1;
	}
	r = report_build(&d, &p);
	*rows = r ? r->n_rows : 0;
	report_free(r);
	store_report_data_free(&d);
	return r ? 0 : -1;
}

/* Time the report of agency (NULL: the network) over the last days in db, REPORT_RUNS times. */
int bench_report(const char *db, const char *agency, long days)
{
	struct event_base *base = event_base_new();
	double ms[REPORT_RUNS];
	struct timespec t0;
	struct store *st;
	size_t rows = 0;
	char err[256];

	if (base == NULL || (st = store_open(db, base, err, sizeof(err))) == NULL) {
		fprintf(stderr, "refex-bench: cannot open %s: %s\n", db, base ? err : "");
		return -1;
	}
	for (int i = 0; i < REPORT_RUNS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (report_once(st, agency, days, &rows) < 0) {
			fprintf(stderr, "refex-bench: the report failed\n");
			break;
		}
		ms[i] = ms_since(&t0);
	}
	store_close(st);
	event_base_free(base);
	qsort(ms, REPORT_RUNS, sizeof(ms[0]), cmp_double);
	printf("report of %s over %ld days: %zu rows; ms min %.2f median %.2f max %.2f (%d runs)\n",
	       agency ? agency : "the network", days, rows, ms[0], ms[REPORT_RUNS / 2],
	       ms[REPORT_RUNS - 1], REPORT_RUNS);
	return 0;
}
