/* The outcomes report: counters kept with each change, read back, grouped, withheld. Every
 * referral here has known times (the store takes them from the caller), so every number is
 * checked exactly. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "store.h"
#include "store_backends.h"
#include "store_report.h"

#define S(x)  REFEX__STATE__STATE_##x
#define D     20000LL            /* 2024-10-04 */
#define T0    (D * 86400 + 3600) /* 01:00 that day */
#define SENT_ REFEX__REPORT_DIRECTION__REPORT_DIRECTION_SENT
#define RECV_ REFEX__REPORT_DIRECTION__REPORT_DIRECTION_RECEIVED

static char dir[256], path[300];
static const struct store_backend_fixture *backend;
static struct event_base *base;
static struct store *st;
static int n_done;

static void on_done(enum store_status status, const struct store_result *res, void *arg)
{
	(void)res;
	*(enum store_status *)arg = status;
	n_done++;
}

/* Wait for the write just queued (rc: what queuing it returned) and return its status. */
static enum store_status wait_write(int rc, enum store_status *status)
{
	int want = n_done + 1;

	cr_assert_eq(rc, 0);
	while (n_done < want) {
		event_base_loop(base, EVLOOP_ONCE);
	}
	return *status;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char err[512] = "";

	backend = store_backend_fixture();
	snprintf(dir, sizeof(dir), "%s/refex-test-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	backend->make(dir, path, sizeof(path));
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(st = store_open(path, base, err, sizeof(err)), "%s", err);
}

static void teardown(void)
{
	if (backend == NULL) {
		return; /* setup found no such backend: nothing was made */
	}
	store_close(st);
	event_base_free(base);
	backend->drop(path);
	rmdir(dir);
}

TestSuite(store_report, .init = setup, .fini = teardown, .timeout = 60);

/* Insert a referral sent at `at` and return its id in id. */
static void send_one(char *id, const char *from, const char *to, const char *form, int64_t at,
                     int64_t due, const char *parent)
{
	enum store_status status = STORE_UNAVAILABLE;
	struct store_new_referral r = {
	    .id = id,
	    .sender = from,
	    .sender_holder = "caseworker-1",
	    .recipient = to,
	    .form = form,
	    .form_version = 1,
	    .created_at = at,
	    .client_name = "Ada Lovelace",
	    .due_at = due,
	    .parent_id = parent,
	};

	store_new_id(id);
	cr_assert_eq(wait_write(store_insert(st, &r, on_done, &status), &status), STORE_OK);
}

static void move(const char *id, Refex__State from, Refex__State to, int64_t at, const char *reason)
{
	enum store_status status = STORE_UNAVAILABLE;
	struct store_change c = {.referral_id = id,
	                         .from = from,
	                         .to = to,
	                         .agency = "x",
	                         .holder = "officer-7",
	                         .at = at,
	                         .reason = reason};

	cr_assert_eq(wait_write(store_change_state(st, &c, on_done, &status), &status), STORE_OK);
}

/* The fixed set: what agency-a sent to agency-b (5, every outcome), one it forwarded on to
 * agency-c, one it received from agency-b next month, and one between others. */
static void fixture(void)
{
	char id[8][STORE_ID_LEN + 1];
	enum store_status status;

	send_one(id[0], "agency-a", "agency-b", "housing_support", T0, 0, NULL);
	move(id[0], S(SENT), S(RECEIVED), T0 + 600, NULL);         /* read: band 0 (15m) */
	move(id[0], S(RECEIVED), S(ACCEPTED), T0 + 5000, NULL);    /* answer: band 3 (2h) */
	move(id[0], S(ACCEPTED), S(COMPLETED), T0 + 172801, "ok"); /* complete: band 8 (3d) */
	send_one(id[1], "agency-a", "agency-b", "housing_support", T0, 0, NULL);
	move(id[1], S(SENT), S(RECEIVED), T0 + 1000, NULL);                /* read: band 1 (30m) */
	move(id[1], S(RECEIVED), S(DECLINED), T0 + 90000, "No capacity "); /* band 7 (2d) */
	send_one(id[2], "agency-a", "agency-b", "housing_support", T0, 0, NULL);
	move(id[2], S(SENT), S(DECLINED), T0 + 100, "no capacity"); /* band 0 (15m) */
	send_one(id[3], "agency-a", "agency-b", "housing_support", T0, 0, NULL);
	move(id[3], S(SENT), S(WITHDRAWN), T0 + 50, "sent by mistake");
	send_one(id[4], "agency-a", "agency-b", "housing_support", T0, T0 + 100, NULL);
	status = STORE_UNAVAILABLE;
	cr_assert_eq(wait_write(store_sweep_overdue(st, T0 + 200, on_done, &status), &status),
	             STORE_OK);
	send_one(id[5], "agency-b", "agency-a", "debt_advice", T0 + 40 * 86400, 0, NULL);
	move(id[5], S(SENT), S(ACCEPTED), T0 + 40 * 86400 + 4000, NULL);
	send_one(id[6], "agency-a", "agency-c", "housing_support", T0 + 41 * 86400, 0, id[5]);
	send_one(id[7], "agency-c", "agency-b", "housing_support", T0, 0, NULL);
}

static Refex__Report *report(const char *agency, Refex__ReportGrouping by, int64_t from, int64_t to,
                             unsigned min)
{
	struct report_params p = {.agency = agency,
	                          .by = by,
	                          .min_count = min,
	                          .now = T0,
	                          .from_day = from,
	                          .to_day = to};
	struct store_report_data d;
	Refex__Report *r;

	cr_assert_eq(store_report_read(st,
	                               &(struct store_report_query){.agency = agency,
	                                                            .from_day = from,
	                                                            .to_day = to,
	                                                            .reasons = agency != NULL},
	                               &d),
	             STORE_OK);
	cr_assert_not_null(r = report_build(&d, &p));
	store_report_data_free(&d);
	return r;
}

static void expect_time(const Refex__ReportTime *t, uint64_t count, int64_t median, int64_t p90)
{
	cr_assert_not_null(t);
	cr_assert_eq(t->count, count);
	cr_assert_eq(t->median_s, median, "median %lld, expected %lld", (long long)t->median_s,
	             (long long)median);
	cr_assert_eq(t->p90_s, p90, "p90 %lld, expected %lld", (long long)t->p90_s, (long long)p90);
}

/* Check the five referrals agency-a sent to agency-b: one of each outcome, one overdue. */
static void expect_a_to_b(const Refex__ReportRow *w)
{
	cr_assert_eq(w->sent, 5);
	cr_assert_eq(w->accepted, 1);
	cr_assert_eq(w->declined, 2);
	cr_assert_eq(w->withdrawn, 1);
	cr_assert_eq(w->completed, 1);
	cr_assert_eq(w->open, 1);
	cr_assert_eq(w->overdue, 1);
	cr_assert_eq(w->forwarded, 0);
	cr_assert(w->has_acceptance_rate);
	cr_assert_float_eq(w->acceptance_rate, 1.0 / 3.0, 1e-9);
	expect_time(w->to_read, 2, 900, 1800);
	expect_time(w->to_answer, 3, 7200, 172800);
	expect_time(w->to_complete, 1, 259200, 259200);
}

Test(store_report, own_view_by_pathway_counts_every_outcome_and_time)
{
	Refex__Report *r;
	const Refex__ReportRow *w;

	fixture();
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D + 60, 5);
	cr_assert_eq(r->n_rows, 3);
	w = r->rows[0];
	cr_assert_eq(w->direction, SENT_);
	cr_assert_str_eq(w->sender, "agency-a");
	cr_assert_str_eq(w->recipient, "agency-b");
	cr_assert_str_eq(w->form, "housing_support");
	cr_assert_null(w->month);
	expect_a_to_b(w);
	cr_assert_eq(w->n_suppressed, 0, "the own view withholds nothing");
	cr_assert_eq(w->n_decline_reasons, 1, "reasons are trimmed and lower-cased, then merged");
	cr_assert_str_eq(w->decline_reasons[0]->reason, "no capacity");
	cr_assert_eq(w->decline_reasons[0]->count, 2);
	w = r->rows[1];
	cr_assert_eq(w->direction, SENT_);
	cr_assert_str_eq(w->recipient, "agency-c");
	cr_assert_eq(w->sent, 1);
	cr_assert_eq(w->forwarded, 1);
	cr_assert_eq(w->open, 1);
	cr_assert_not(w->has_acceptance_rate, "no answer yet: no rate");
	cr_assert_eq(w->to_read->count, 0);
	cr_assert_not(w->to_read->has_median_s);
	w = r->rows[2];
	cr_assert_eq(w->direction, RECV_);
	cr_assert_str_eq(w->sender, "agency-b");
	cr_assert_str_eq(w->form, "debt_advice");
	cr_assert_eq(w->sent, 1);
	cr_assert_eq(w->accepted, 1);
	cr_assert_float_eq(w->acceptance_rate, 1.0, 1e-9);
	expect_time(w->to_answer, 1, 7200, 7200);
	cr_assert_str_eq(r->from_day, "2024-10-04");
	cr_assert_str_eq(r->to_day, "2024-12-03");
	cr_assert_eq(r->scope, REFEX__REPORT_SCOPE__REPORT_SCOPE_OWN);
	report_free(r);
}

Test(store_report, by_month_and_by_form_and_period)
{
	Refex__Report *r;

	fixture();
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_MONTH, D, D + 60, 5);
	cr_assert_eq(r->n_rows, 3);
	cr_assert_str_eq(r->rows[0]->month, "2024-10");
	cr_assert_eq(r->rows[0]->sent, 5);
	cr_assert_str_eq(r->rows[1]->month, "2024-11");
	cr_assert_eq(r->rows[1]->sent, 1);
	cr_assert_eq(r->rows[1]->forwarded, 1);
	cr_assert_eq(r->rows[2]->direction, RECV_);
	cr_assert_str_eq(r->rows[2]->month, "2024-11");
	cr_assert_null(r->rows[0]->form);
	report_free(r);
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_FORM, D, D + 60, 5);
	cr_assert_eq(r->n_rows, 2);
	cr_assert_str_eq(r->rows[0]->form, "housing_support");
	cr_assert_eq(r->rows[0]->sent, 6);
	cr_assert_eq(r->rows[0]->open, 2);
	cr_assert_str_eq(r->rows[1]->form, "debt_advice");
	report_free(r);
	/* Only what was sent in the period counts. */
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D + 40, D + 60, 5);
	cr_assert_eq(r->n_rows, 2);
	cr_assert_str_eq(r->rows[0]->recipient, "agency-c");
	report_free(r);
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D + 61, D + 90, 5);
	cr_assert_eq(r->n_rows, 0);
	report_free(r);
}

Test(store_report, network_view_withholds_small_counts_and_all_free_text)
{
	Refex__Report *r;
	const Refex__ReportRow *w;
	static const char *const withheld[] = {"accepted",       "withdrawn", "completed",
	                                       "open",           "overdue",   "sent",
	                                       "acceptanceRate", "toComplete"};

	fixture();
	r = report(NULL, REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D + 60, 2);
	cr_assert_eq(r->n_rows, 4, "every pathway, each referral once");
	cr_assert_eq(r->min_count, 2);
	cr_assert_null(r->agency);
	w = r->rows[0];
	cr_assert_eq(w->direction, REFEX__REPORT_DIRECTION__REPORT_DIRECTION_UNSPECIFIED);
	cr_assert_str_eq(w->sender, "agency-a");
	cr_assert_str_eq(w->recipient, "agency-b");
	cr_assert_eq(w->n_decline_reasons, 0, "no free text in the network view");
	cr_assert(w->has_declined && w->declined == 2, "2 is not under 2");
	cr_assert(w->has_forwarded && w->forwarded == 0, "0 is shown");
	cr_assert_not(w->has_accepted);
	cr_assert_not(w->has_sent, "the total would give a withheld count away");
	cr_assert_not(w->has_acceptance_rate);
	cr_assert_null(w->to_complete);
	expect_time(w->to_read, 2, 900, 1800);
	expect_time(w->to_answer, 3, 7200, 172800);
	cr_assert_eq(w->n_suppressed, sizeof(withheld) / sizeof(withheld[0]));
	for (size_t i = 0; i < w->n_suppressed; i++) {
		cr_assert_str_eq(w->suppressed[i], withheld[i]);
	}
	cr_assert_str_eq(r->rows[3]->sender, "agency-c");
	cr_assert_not(r->rows[3]->has_sent);
	report_free(r);
	/* With a threshold of 1 nothing is withheld. */
	r = report(NULL, REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D + 60, 1);
	expect_a_to_b(r->rows[0]);
	cr_assert_eq(r->rows[0]->n_suppressed, 0);
	report_free(r);
}

Test(store_report, network_view_withholds_a_small_count_of_accepted_not_yet_completed)
{
	char id[5][STORE_ID_LEN + 1];
	const Refex__ReportRow *w;
	Refex__Report *r;

	/* Three accepted, two of them completed, two declined: every count shown is 2 or more,
	 * but one referral is still accepted, which the total less the rest would tell. */
	for (int i = 0; i < 5; i++) {
		send_one(id[i], "agency-d", "agency-e", "housing_support", T0, 0, NULL);
		move(id[i], S(SENT), i < 3 ? S(ACCEPTED) : S(DECLINED), T0 + 600, NULL);
	}
	move(id[0], S(ACCEPTED), S(COMPLETED), T0 + 1200, NULL);
	move(id[1], S(ACCEPTED), S(COMPLETED), T0 + 1200, NULL);
	r = report(NULL, REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D + 1, 2);
	cr_assert_eq(r->n_rows, 1);
	w = r->rows[0];
	cr_assert(w->has_completed && w->completed == 2);
	cr_assert(w->has_declined && w->declined == 2);
	cr_assert_not(w->has_sent, "sent less the other states would show the one accepted");
	cr_assert_not(w->has_accepted, "accepted less completed would show it too");
	cr_assert_not(w->has_acceptance_rate);
	report_free(r);
}

Test(store_report, tombstones_still_count_but_their_reasons_go)
{
	enum store_status status = STORE_UNAVAILABLE;
	Refex__Report *r;

	fixture();
	/* Purge everything closed (the retention sweep), until nothing is left to purge. */
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(wait_write(store_purge_closed(st, T0 + 400 * 86400, 0,
		                                           T0 + 400 * 86400, on_done, &status),
		                        &status),
		             STORE_OK);
	}
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D + 60, 5);
	expect_a_to_b(r->rows[0]);
	cr_assert_eq(r->rows[0]->n_decline_reasons, 0, "retention erased the reasons");
	report_free(r);
}

Test(store_report, period_checks)
{
	struct report_params p = {.now = T0};
	const char *field = NULL;
	char err[128];

	cr_assert_eq(report_period(&p, NULL, NULL, &field, err, sizeof(err)), 0);
	cr_assert_eq(p.to_day, D);
	cr_assert_eq(p.from_day, D - 89, "the default is the 90 days up to today");
	cr_assert_eq(report_period(&p, "2024-02-30", NULL, &field, err, sizeof(err)), -1);
	cr_assert_str_eq(field, "fromDay");
	cr_assert_eq(report_period(&p, NULL, "yesterday", &field, err, sizeof(err)), -1);
	cr_assert_str_eq(field, "toDay");
	cr_assert_eq(report_period(&p, "2024-10-05", "2024-10-04", &field, err, sizeof(err)), -1);
	cr_assert(strstr(err, "starts after it ends") != NULL);
	cr_assert_eq(report_period(&p, "2000-01-01", "2024-10-04", &field, err, sizeof(err)), -1);
	cr_assert(strstr(err, "at most") != NULL);
}

Test(store_report, the_migration_counts_what_is_already_stored)
{
	char err[512] = "";
	sqlite3 *db;
	Refex__Report *r;

	fixture();
	store_close(st);
	/* A database from before the report (schema version 11). */
	if (strcmp(backend->name, "postgresql") == 0) {
		store_backends_pg_db_name(path, err, sizeof(err));
		store_backends_pg_admin(
		    err, "DROP TABLE report_cells, report_times, report_reasons;"
		         " DROP TRIGGER report_sent ON referrals; DROP TRIGGER report_state ON "
		         "referrals;"
		         " DROP TRIGGER report_overdue ON referrals; DROP TRIGGER report_reason ON "
		         "history;"
		         " DROP TRIGGER report_reason_erased ON history;"
		         " DROP FUNCTION report_sent, report_state, report_overdue, report_reason,"
		         " report_reason_erased; UPDATE refex_schema SET version = 11");
	} else {
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		cr_assert_eq(
		    sqlite3_exec(db,
		                 "DROP TRIGGER report_state;"
		                 " DROP TRIGGER report_overdue; DROP TRIGGER report_reason;"
		                 " DROP TRIGGER report_reason_erased; DROP TABLE report_cells;"
		                 " DROP TABLE report_times; DROP TABLE report_reasons;"
		                 " PRAGMA user_version = 11;",
		                 NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
	}
	cr_assert_not_null(st = store_open(path, base, err, sizeof(err)), "%s", err);
	r = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D + 60, 5);
	cr_assert_eq(r->n_rows, 3);
	expect_a_to_b(r->rows[0]);
	cr_assert_eq(r->rows[0]->decline_reasons[0]->count, 2);
	cr_assert_eq(r->rows[1]->forwarded, 1);
	expect_time(r->rows[2]->to_answer, 1, 7200, 7200);
	report_free(r);
}

Test(store_report, a_batch_of_inserts_and_changes_counts_each_once)
{
	enum store_status st_ins[4], st_chg = STORE_UNAVAILABLE;
	char id[4][STORE_ID_LEN + 1], parent[STORE_ID_LEN + 1];
	struct store_new_referral r[4];
	struct store_change c = {.from = S(SENT),
	                         .to = S(RECEIVED),
	                         .agency = "agency-b",
	                         .holder = "officer-7",
	                         .at = T0 + 60};
	Refex__Report *rep;
	int want = n_done + 5;

	send_one(parent, "agency-b", "agency-a", "debt_advice", T0, 0, NULL);
	/* One group commit: three to agency-b (one of them read at once), one forwarded to
	 * agency-c. */
	for (int i = 0; i < 4; i++) {
		store_new_id(id[i]);
		r[i] = (struct store_new_referral){.id = id[i],
		                                   .sender = "agency-a",
		                                   .sender_holder = "caseworker-1",
		                                   .recipient = i < 3 ? "agency-b" : "agency-c",
		                                   .form = "housing_support",
		                                   .form_version = 1,
		                                   .created_at = T0,
		                                   .parent_id = i < 3 ? NULL : parent};
		cr_assert_eq(store_insert(st, &r[i], on_done, &st_ins[i]), 0);
	}
	c.referral_id = id[0];
	cr_assert_eq(store_change_state(st, &c, on_done, &st_chg), 0);
	while (n_done < want) {
		event_base_loop(base, EVLOOP_ONCE);
	}
	cr_assert_eq(st_chg, STORE_OK);
	rep = report("agency-a", REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY, D, D, 5);
	cr_assert_eq(rep->n_rows, 3);
	cr_expect_eq(rep->rows[0]->sent, 3);
	cr_expect_eq(rep->rows[0]->open, 3);
	expect_time(rep->rows[0]->to_read, 1, 900, 900);
	cr_expect_eq(rep->rows[1]->sent, 1);
	cr_expect_eq(rep->rows[1]->forwarded, 1);
	cr_expect_eq(rep->rows[2]->direction, RECV_);
	cr_expect_eq(rep->rows[2]->sent, 1);
	report_free(rep);
}
