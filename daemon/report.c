/*
 * The outcomes report (issue 16): groups the store's per-pathway, per-month cells by pathway,
 * form or month, works out acceptance rates and the median and 90th percentile of each step's
 * duration from the bands the store counts them in, and for the network view withholds small
 * counts and every free text.
 */
#include "report.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"

/* One row being summed up: its key points into the store's cells. */
struct group {
	Refex__ReportDirection dir;
	const char *sender, *recipient, *form, *month;
	uint64_t sent, accepted, declined, withdrawn, completed, open, overdue, forwarded;
	uint64_t times[STORE_REPORT_STEPS][STORE_REPORT_NBANDS];
	const struct store_report_cell **cells; /* for their decline reasons */
	size_t n_cells;
};

/* Read YYYY-MM-DD into days since 1970-01-01 (UTC). */
static int day_parse(const char *s, int64_t *day)
{
	struct tm tm = {0};

	if (!date_is_valid(s)) {
		return -1;
	}
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	*day = (int64_t)timegm(&tm) / 86400;
	return 0;
}

static void day_format(int64_t day, char *buf, size_t len)
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

static bool given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Fill p's period from from and to as of now. */
int report_period(struct report_params *p, const char *from, const char *to, const char **field,
                  char *err, size_t errlen)
{
	p->to_day = p->now / 86400;
	if (given(to) && day_parse(to, &p->to_day) < 0) {
		*field = "toDay";
		snprintf(err, errlen, "the end of the period is not a date written YYYY-MM-DD");
		return -1;
	}
	p->from_day = p->to_day - (REPORT_DEFAULT_DAYS - 1);
	if (given(from) && day_parse(from, &p->from_day) < 0) {
		*field = "fromDay";
		snprintf(err, errlen, "the start of the period is not a date written YYYY-MM-DD");
		return -1;
	}
	if (p->from_day > p->to_day) {
		*field = "fromDay";
		snprintf(err, errlen, "the period starts after it ends");
		return -1;
	}
	if (p->to_day - p->from_day >= REPORT_MAX_DAYS) {
		*field = "fromDay";
		snprintf(err, errlen, "a report covers at most %d days", REPORT_MAX_DAYS);
		return -1;
	}
	return 0;
}

static int str_cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int group_cmp(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;
	int d = (int)a->dir - (int)b->dir;

	d = d ? d : str_cmp(a->sender, b->sender);
	d = d ? d : str_cmp(a->recipient, b->recipient);
	d = d ? d : str_cmp(a->form, b->form);
	return d ? d : str_cmp(a->month, b->month);
}

/* The key of cell c's row: the grouping's fields, the rest NULL. */
static struct group group_key(const struct store_report_cell *c, const struct report_params *p)
{
	struct group k = {0};

	if (p->agency != NULL) {
		k.dir = strcmp(c->sender, p->agency) == 0
		            ? REFEX__REPORT_DIRECTION__REPORT_DIRECTION_SENT
		            : REFEX__REPORT_DIRECTION__REPORT_DIRECTION_RECEIVED;
	}
	switch (p->by) {
	case REFEX__REPORT_GROUPING__REPORT_BY_FORM:
		k.form = c->form;
		break;
	case REFEX__REPORT_GROUPING__REPORT_BY_MONTH:
		k.month = c->month;
		break;
	default:
		k.sender = c->sender;
		k.recipient = c->recipient;
		k.form = c->form;
		break;
	}
	return k;
}

static int group_add(struct group *g, const struct store_report_cell *c)
{
	const struct store_report_cell **cells =
	    realloc(g->cells, (g->n_cells + 1) * sizeof(*cells));

	if (cells == NULL) {
		return -1;
	}
	g->cells = cells;
	g->cells[g->n_cells++] = c;
	g->sent += c->sent;
	g->accepted += c->accepted;
	g->declined += c->in_state[REFEX__STATE__STATE_DECLINED];
	g->withdrawn += c->in_state[REFEX__STATE__STATE_WITHDRAWN];
	g->completed += c->in_state[REFEX__STATE__STATE_COMPLETED];
	g->open +=
	    c->in_state[REFEX__STATE__STATE_SENT] + c->in_state[REFEX__STATE__STATE_RECEIVED];
	g->overdue += c->overdue;
	g->forwarded += c->forwarded;
	for (int s = 0; s < STORE_REPORT_STEPS; s++) {
		for (int b = 0; b < STORE_REPORT_NBANDS; b++) {
			g->times[s][b] += c->times[s][b];
		}
	}
	return 0;
}

/* Sum the cells into groups, sorted by key; *n of them. NULL: out of memory (or none). */
static struct group *groups_make(const struct store_report_data *d, const struct report_params *p,
                                 size_t *n)
{
	struct group *g = calloc(d->n ? d->n : 1, sizeof(*g)), key;
	size_t i, j;

	*n = 0;
	for (i = 0; g != NULL && i < d->n; i++) {
		key = group_key(&d->cells[i], p);
		for (j = 0; j < *n && group_cmp(&g[j], &key) != 0; j++) {
		}
		if (j == *n) {
			g[(*n)++] = key;
		}
		if (group_add(&g[j], &d->cells[i]) < 0) {
			for (j = 0; j < *n; j++) {
				free(g[j].cells);
			}
			free(g);
			return NULL;
		}
	}
	if (g != NULL && *n > 1) {
		qsort(g, *n, sizeof(*g), group_cmp);
	}
	return g;
}

/* The upper end of the band holding the q-th quantile of hist (count durations). */
static int64_t band_quantile(const uint64_t *hist, uint64_t count, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)count), seen = 0;

	for (int b = 0; b < STORE_REPORT_NBANDS; b++) {
		seen += hist[b];
		if (seen >= rank) {
			return store_report_band_ends()[b];
		}
	}
	return STORE_REPORT_OVER;
}

static Refex__ReportTime *time_make(const uint64_t *hist)
{
	Refex__ReportTime *t = malloc(sizeof(*t));
	uint64_t count = 0;

	if (t == NULL) {
		return NULL;
	}
	refex__report_time__init(t);
	for (int b = 0; b < STORE_REPORT_NBANDS; b++) {
		count += hist[b];
	}
	t->has_count = 1;
	t->count = count;
	if (count > 0) {
		t->has_median_s = t->has_p90_s = 1;
		t->median_s = band_quantile(hist, count, 0.5);
		t->p90_s = band_quantile(hist, count, 0.9);
	}
	return t;
}

static int reason_cmp(const void *pa, const void *pb)
{
	const Refex__ReportReason *a = *(Refex__ReportReason *const *)pa;
	const Refex__ReportReason *b = *(Refex__ReportReason *const *)pb;

	if (a->count != b->count) {
		return a->count > b->count ? -1 : 1;
	}
	return strcmp(a->reason, b->reason);
}

/* Add n declines for reason to row r, merging with the same reason from another cell. */
static int reason_add(Refex__ReportRow *r, const char *reason, uint64_t n)
{
	Refex__ReportReason **grown, *x;

	for (size_t i = 0; i < r->n_decline_reasons; i++) {
		if (strcmp(r->decline_reasons[i]->reason, reason) == 0) {
			r->decline_reasons[i]->count += n;
			return 0;
		}
	}
	grown = realloc(r->decline_reasons, (r->n_decline_reasons + 1) * sizeof(*grown));
	if (grown == NULL) {
		return -1;
	}
	r->decline_reasons = grown;
	if ((x = malloc(sizeof(*x))) == NULL) {
		return -1;
	}
	refex__report_reason__init(x);
	x->has_count = 1;
	x->count = n;
	r->decline_reasons[r->n_decline_reasons++] = x;
	return (x->reason = strdup(reason)) ? 0 : -1;
}

/* Give row r its group's most common decline reasons (own view only). */
static int reasons_make(Refex__ReportRow *r, const struct group *g)
{
	for (size_t i = 0; i < g->n_cells; i++) {
		const struct store_report_cell *c = g->cells[i];

		for (size_t j = 0; j < c->n_reasons; j++) {
			if (reason_add(r, c->reasons[j], c->reason_counts[j]) < 0) {
				return -1;
			}
		}
	}
	if (r->n_decline_reasons > 1) {
		qsort(r->decline_reasons, r->n_decline_reasons, sizeof(*r->decline_reasons),
		      reason_cmp);
	}
	while (r->n_decline_reasons > REPORT_TOP_REASONS) {
		protobuf_c_message_free_unpacked(&r->decline_reasons[--r->n_decline_reasons]->base,
		                                 NULL);
	}
	return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *c;

	if (s == NULL) {
		return NULL;
	}
	if ((c = strdup(s)) == NULL) {
		*oom = true;
	}
	return c;
}

/* Withhold field name of r (network view): note it in r->suppressed. */
static int withhold(Refex__ReportRow *r, const char *name)
{
	char **grown = realloc(r->suppressed, (r->n_suppressed + 1) * sizeof(*grown));

	if (grown == NULL) {
		return -1;
	}
	r->suppressed = grown;
	return (r->suppressed[r->n_suppressed++] = strdup(name)) ? 0 : -1;
}

/* Say whether count v is too small to show in the network view (0 is shown). */
static bool too_small(uint64_t v, unsigned min)
{
	return v > 0 && v < min;
}

/* Network view: withhold each count under min (not 0), what could be worked out from the rest
 * (the total when a state is withheld, the rate when either side of it is) and each time taken
 * by fewer than min referrals. */
static int row_suppress(Refex__ReportRow *r, unsigned min)
{
	struct {
		const char *name;
		protobuf_c_boolean *has;
		uint64_t v;
	} counts[] = {
	    {"accepted", &r->has_accepted, r->accepted},
	    {"declined", &r->has_declined, r->declined},
	    {"withdrawn", &r->has_withdrawn, r->withdrawn},
	    {"completed", &r->has_completed, r->completed},
	    {"open", &r->has_open, r->open},
	    {"overdue", &r->has_overdue, r->overdue},
	    {"forwarded", &r->has_forwarded, r->forwarded},
	};
	Refex__ReportTime **times[] = {&r->to_read, &r->to_answer, &r->to_complete};
	static const char *const time_names[] = {"toRead", "toAnswer", "toComplete"};
	bool part = false;
	int rc = 0;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (too_small(counts[i].v, min)) {
			*counts[i].has = 0;
			part = part ||
			       i < 5; /* declined, withdrawn, completed and open add up to sent */
			rc |= withhold(r, counts[i].name);
		}
	}
	/* Those accepted and not yet completed are no count of the row, but the total less the
	 * other states, or accepted less completed, would give them away. */
	if (too_small(r->sent - (r->declined + r->withdrawn + r->completed + r->open), min)) {
		part = true;
		if (r->has_accepted) {
			r->has_accepted = 0;
			rc |= withhold(r, "accepted");
		}
	}
	if (part || too_small(r->sent, min)) {
		r->has_sent = 0;
		rc |= withhold(r, "sent");
	}
	if (r->has_acceptance_rate &&
	    (!r->has_accepted || !r->has_declined || r->accepted + r->declined < min)) {
		r->has_acceptance_rate = 0;
		rc |= withhold(r, "acceptanceRate");
	}
	for (size_t i = 0; i < 3; i++) {
		if (*times[i] != NULL && too_small((*times[i])->count, min)) {
			protobuf_c_message_free_unpacked(&(*times[i])->base, NULL);
			*times[i] = NULL;
			rc |= withhold(r, time_names[i]);
		}
	}
	return rc;
}

static Refex__ReportRow *row_make(const struct group *g, const struct report_params *p)
{
	Refex__ReportRow *r = malloc(sizeof(*r));
	bool oom = false;

	if (r == NULL) {
		return NULL;
	}
	refex__report_row__init(r);
	r->has_direction = g->dir != REFEX__REPORT_DIRECTION__REPORT_DIRECTION_UNSPECIFIED;
	r->direction = g->dir;
	r->sender = dup_or_null(g->sender, &oom);
	r->recipient = dup_or_null(g->recipient, &oom);
	r->form = dup_or_null(g->form, &oom);
	r->month = dup_or_null(g->month, &oom);
	r->has_sent = r->has_accepted = r->has_declined = r->has_withdrawn = 1;
	r->has_completed = r->has_open = r->has_overdue = r->has_forwarded = 1;
	r->sent = g->sent;
	r->accepted = g->accepted;
	r->declined = g->declined;
	r->withdrawn = g->withdrawn;
	r->completed = g->completed;
	r->open = g->open;
	r->overdue = g->overdue;
	r->forwarded = g->forwarded;
	if (g->accepted + g->declined > 0) {
		r->has_acceptance_rate = 1;
		r->acceptance_rate = (double)g->accepted / (double)(g->accepted + g->declined);
	}
	r->to_read = time_make(g->times[STORE_REPORT_READ]);
	r->to_answer = time_make(g->times[STORE_REPORT_ANSWER]);
	r->to_complete = time_make(g->times[STORE_REPORT_COMPLETE]);
	oom = oom || !r->to_read || !r->to_answer || !r->to_complete;
	if (!oom && p->agency != NULL) {
		oom = reasons_make(r, g) < 0;
	} else if (!oom) {
		oom = row_suppress(r, p->min_count) < 0;
	}
	if (oom) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return NULL;
	}
	return r;
}

static Refex__Report *report_head(const struct report_params *p)
{
	Refex__Report *r = malloc(sizeof(*r));
	char day[16];
	bool oom = false;

	if (r == NULL) {
		return NULL;
	}
	refex__report__init(r);
	r->agency = dup_or_null(p->agency, &oom);
	r->has_scope = r->has_by = r->has_generated_at = 1;
	r->scope = p->agency ? REFEX__REPORT_SCOPE__REPORT_SCOPE_OWN
	                     : REFEX__REPORT_SCOPE__REPORT_SCOPE_NETWORK;
	r->by = p->by == REFEX__REPORT_GROUPING__REPORT_BY_UNSPECIFIED
	            ? REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY
	            : p->by;
	r->generated_at = p->now;
	day_format(p->from_day, day, sizeof(day));
	r->from_day = dup_or_null(day, &oom);
	day_format(p->to_day, day, sizeof(day));
	r->to_day = dup_or_null(day, &oom);
	if (p->agency == NULL) {
		r->has_min_count = 1;
		r->min_count = p->min_count;
	}
	if (oom) {
		report_free(r);
		return NULL;
	}
	return r;
}

/* Build the report of d for p. */
Refex__Report *report_build(const struct store_report_data *d, const struct report_params *p)
{
	Refex__Report *r = report_head(p);
	size_t n = 0;
	struct group *g = r ? groups_make(d, p, &n) : NULL;
	bool oom = r == NULL || g == NULL;

	if (!oom && n > 0 && (r->rows = calloc(n, sizeof(*r->rows))) == NULL) {
		oom = true;
	}
	for (size_t i = 0; !oom && i < n; i++) {
		if ((r->rows[i] = row_make(&g[i], p)) == NULL) {
			oom = true;
		} else {
			r->n_rows++;
		}
	}
	for (size_t i = 0; g != NULL && i < n; i++) {
		free(g[i].cells);
	}
	free(g);
	if (oom) {
		report_free(r);
		return NULL;
	}
	return r;
}

/* Free a report built by report_build. */
void report_free(Refex__Report *r)
{
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
}
