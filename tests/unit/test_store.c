/*
 * The store's contract: durable group-committed writes, reads, listings, ids, counts. Every
 * backend behind daemon/store_backend.h must pass these; REFEX_STORE_BACKEND names the one to
 * run them against (default: sqlite; see backends below). Tests that look inside one backend's
 * files (migrations of an old SQLite file, files that are no database) say so with
 * backend_only() and are skipped for the others.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.pb-c.h"
#include "store.h"
#include "store_backends.h"
#include "store_clients.h"
#include "store_news.h"
#include "store_pg_private.h"

#define S(x) REFEX__STATE__STATE_##x

/* Each test (forked by Criterion) gets its own directory, loop and store. */
static char dir[256];
static char path[300];
static struct event_base *base;
static struct store *st;

/* What the callbacks have seen so far. */
static int n_done;
static enum store_status statuses[2048];
static struct store_result last_res; /* of the latest callback */

static void on_done(enum store_status status, const struct store_result *res, void *arg)
{
	(void)arg;
	last_res = *res;
	if (n_done < (int)(sizeof(statuses) / sizeof(statuses[0]))) {
		statuses[n_done] = status;
	}
	n_done++;
}

/* A callback that records its status where arg points. */
static void on_done_into(enum store_status status, const struct store_result *res, void *arg)
{
	*(enum store_status *)arg = status;
	last_res = *res;
	n_done++;
}

static void wait_for(int n)
{
	while (n_done < n) {
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static struct store *open_store(void)
{
	char err[512] = "";
	struct store *s = store_open(path, base, err, sizeof(err));

	cr_assert_not_null(s, "store_open: %s", err);
	return s;
}

static const struct store_backend_fixture *backend;

/* Skip the test unless the suite runs against the backend named. */
static void backend_only(const char *name)
{
	if (strcmp(backend->name, name) != 0) {
		cr_skip_test("looks inside %s's files", name);
	}
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	backend = store_backend_fixture();
	snprintf(dir, sizeof(dir), "%s/refex-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	backend->make(dir, path, sizeof(path));
	base = event_base_new();
	cr_assert_not_null(base);
	n_done = 0;
	st = open_store();
}

static void teardown(void)
{
	char other[300];

	if (backend == NULL) {
		return; /* setup found no such backend: nothing was made */
	}
	store_close(st);
	st = NULL;
	event_base_free(base);
	backend->drop(path);
	snprintf(other, sizeof(other), "%s/other.db", dir);
	store_backends_sqlite_remove(other);
	rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

/* Buffers behind one sample referral. */
struct sample {
	char id[STORE_ID_LEN + 1];
	uint8_t client[256];
	uint8_t consent[256];
	uint8_t form[64];
	struct store_new_referral r;
};

static void sample_make(struct sample *s, const char *from, const char *to, int64_t at)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;
	Refex__Consent k = REFEX__CONSENT__INIT;

	c.given_name = "Ada";
	c.family_name = "Lovelace";
	c.phone = "07700 900123";
	c.has_safe_to_leave_message = 1;
	c.safe_to_leave_message = 0;
	k.to_agency = (char *)to;
	k.purpose = "referral for housing support";
	k.method = REFEX__CONSENT_METHOD__CONSENT_WRITTEN;
	k.recorded_by = "caseworker-1";
	for (size_t i = 0; i < sizeof(s->form); i++) {
		s->form[i] = (uint8_t)(i * 7);
	}
	store_new_id(s->id);
	s->r = (struct store_new_referral){
	    .id = s->id,
	    .sender = from,
	    .sender_holder = "caseworker-1",
	    .recipient = to,
	    .form = "housing_support",
	    .form_version = 2,
	    .created_at = at,
	    .client_name = "Ada Lovelace",
	    .client = s->client,
	    .client_len = refex__client_record__pack(&c, s->client),
	    .consent = s->consent,
	    .consent_len = refex__consent__pack(&k, s->consent),
	    .form_data = s->form,
	    .form_data_len = sizeof(s->form),
	};
}

/* Insert one referral and wait until it has committed. */
static void insert_ok(struct sample *s)
{
	enum store_status status = STORE_UNAVAILABLE;
	int want = n_done + 1;

	cr_assert_eq(store_insert(st, &s->r, on_done_into, &status), 0);
	wait_for(want);
	cr_assert_eq(status, STORE_OK);
}

static enum store_status change(const char *id, Refex__State from, Refex__State to, int64_t at,
                                const char *reason)
{
	enum store_status status = STORE_UNAVAILABLE;
	struct store_change c = {
	    .referral_id = id,
	    .from = from,
	    .to = to,
	    .agency = "shelter-north",
	    .holder = "officer-7",
	    .at = at,
	    .reason = reason,
	};
	int want = n_done + 1;

	cr_assert_eq(store_change_state(st, &c, on_done_into, &status), 0);
	wait_for(want);
	return status;
}

Test(store, insert_then_get_returns_every_field)
{
	struct sample s;
	Refex__Referral *r = NULL;

	sample_make(&s, "advice-east", "shelter-north", 1700000000);
	insert_ok(&s);
	cr_assert_eq(store_get(st, s.id, &r), STORE_OK);
	cr_assert_str_eq(r->id, s.id);
	cr_assert_str_eq(r->sender, "advice-east");
	cr_assert_str_eq(r->sender_holder, "caseworker-1");
	cr_assert_str_eq(r->recipient, "shelter-north");
	cr_assert_str_eq(r->form, "housing_support");
	cr_assert_str_eq(r->client_name, "Ada Lovelace");
	cr_assert(r->has_form_version && r->form_version == 2);
	cr_assert(r->has_state && r->state == S(SENT));
	cr_assert(r->has_created_at && r->created_at == 1700000000);
	cr_assert(r->has_updated_at && r->updated_at == 1700000000);
	cr_assert_not_null(r->client);
	cr_assert_str_eq(r->client->given_name, "Ada");
	cr_assert_str_eq(r->client->family_name, "Lovelace");
	cr_assert_str_eq(r->client->phone, "07700 900123");
	cr_assert(r->client->has_safe_to_leave_message && !r->client->safe_to_leave_message);
	cr_assert_not_null(r->consent);
	cr_assert_str_eq(r->consent->to_agency, "shelter-north");
	cr_assert_str_eq(r->consent->recorded_by, "caseworker-1");
	cr_assert_eq(r->consent->method, REFEX__CONSENT_METHOD__CONSENT_WRITTEN);
	cr_assert(r->has_form_data);
	cr_assert_eq(r->form_data.len, sizeof(s.form));
	cr_assert_arr_eq(r->form_data.data, s.form, sizeof(s.form));
	cr_assert_eq(r->n_history, 1);
	cr_assert_str_eq(r->history[0]->referral_id, s.id);
	cr_assert_not(r->history[0]->has_from);
	cr_assert_eq(r->history[0]->to, S(SENT));
	cr_assert_str_eq(r->history[0]->agency, "advice-east");
	cr_assert_str_eq(r->history[0]->holder, "caseworker-1");
	cr_assert_eq(r->history[0]->at, 1700000000);
	cr_assert_null(r->history[0]->reason);
	store_referral_free(r);
}

Test(store, get_unknown_id_is_not_found)
{
	Refex__Referral *r = (Refex__Referral *)1;

	cr_assert_eq(store_get(st, "0000000000000000", &r), STORE_NOT_FOUND);
	cr_assert_null(r);
	store_referral_free(NULL);
}

Test(store, duplicate_id_fails_alone)
{
	struct sample a, dup, b;
	enum store_status sd = STORE_OK, sb = STORE_UNAVAILABLE;
	Refex__Referral *r = NULL;

	sample_make(&a, "advice-east", "shelter-north", 100);
	insert_ok(&a);
	sample_make(&dup, "food-west", "shelter-north", 200);
	memcpy(dup.id, a.id, sizeof(a.id));
	sample_make(&b, "food-west", "shelter-north", 300);
	/* Queued back to back: normally one batch, where the duplicate must not sink b. */
	cr_assert_eq(store_insert(st, &dup.r, on_done_into, &sd), 0);
	cr_assert_eq(store_insert(st, &b.r, on_done_into, &sb), 0);
	wait_for(3);
	cr_assert_eq(sd, STORE_DUPLICATE);
	cr_assert_eq(sb, STORE_OK);
	cr_assert_eq(store_get(st, a.id, &r), STORE_OK);
	cr_assert_str_eq(r->sender, "advice-east", "the original is untouched");
	cr_assert_eq(r->n_history, 1);
	store_referral_free(r);
	cr_assert_eq(store_get(st, b.id, &r), STORE_OK);
	store_referral_free(r);
}

Test(store, change_state_is_conditional)
{
	struct sample s;
	Refex__Referral *r = NULL;

	sample_make(&s, "advice-east", "shelter-north", 100);
	insert_ok(&s);
	cr_assert_eq(change(s.id, S(SENT), S(ACCEPTED), 150, NULL), STORE_OK);
	cr_assert_eq(change(s.id, S(SENT), S(DECLINED), 160, "full"), STORE_CONFLICT);
	cr_assert_eq(change("ZZZZZZZZZZZZZZZZ", S(SENT), S(ACCEPTED), 170, NULL), STORE_NOT_FOUND);
	cr_assert_eq(store_get(st, s.id, &r), STORE_OK);
	cr_assert_eq(r->state, S(ACCEPTED));
	cr_assert_eq(r->updated_at, 150);
	cr_assert_eq(r->created_at, 100);
	cr_assert_eq(r->n_history, 2, "a refused change leaves no history");
	store_referral_free(r);
}

Test(store, history_records_who_when_why)
{
	struct sample s;
	Refex__Referral *r = NULL;
	Refex__StatusChange *h;

	sample_make(&s, "advice-east", "shelter-north", 100);
	insert_ok(&s);
	cr_assert_eq(change(s.id, S(SENT), S(RECEIVED), 110, NULL), STORE_OK);
	cr_assert_eq(change(s.id, S(RECEIVED), S(DECLINED), 120, "no beds this month"), STORE_OK);
	cr_assert_eq(store_get(st, s.id, &r), STORE_OK);
	cr_assert_eq(r->n_history, 3);
	cr_assert_eq(r->history[1]->from, S(SENT));
	cr_assert_eq(r->history[1]->to, S(RECEIVED));
	cr_assert_null(r->history[1]->reason);
	h = r->history[2];
	cr_assert_str_eq(h->referral_id, s.id);
	cr_assert(h->has_from && h->from == S(RECEIVED));
	cr_assert(h->has_to && h->to == S(DECLINED));
	cr_assert_str_eq(h->agency, "shelter-north");
	cr_assert_str_eq(h->holder, "officer-7");
	cr_assert(h->has_at && h->at == 120);
	cr_assert_str_eq(h->reason, "no beds this month");
	store_referral_free(r);
}

static void list_page(enum store_box box, const char *agency, Refex__State state, uint32_t limit,
                      int64_t before, struct store_page *page)
{
	struct store_query q = {
	    .box = box, .agency = agency, .state = state, .limit = limit, .before = before};

	cr_assert_eq(store_list(st, &q, page), STORE_OK);
}

Test(store, list_is_newest_first_in_pages)
{
	struct sample s[5], noise;
	struct store_page p = {0};
	int64_t before = 0;
	size_t want[] = {2, 2, 1}, k = 5;

	for (int i = 0; i < 5; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", 1000 + i);
		insert_ok(&s[i]);
	}
	sample_make(&noise, "food-west", "debt-south", 2000);
	insert_ok(&noise);
	for (size_t page = 0; page < 3; page++) {
		list_page(STORE_INBOX, "shelter-north", S(UNSPECIFIED), 2, before, &p);
		cr_assert_eq(p.n, want[page]);
		for (size_t i = 0; i < p.n; i++) {
			k--;
			cr_assert_str_eq(p.items[i]->id, s[k].id);
			cr_assert_str_eq(p.items[i]->client_name, "Ada Lovelace");
			cr_assert_eq(p.items[i]->created_at, 1000 + (int64_t)k);
			cr_assert_null(p.items[i]->client, "listings carry summaries only");
			cr_assert_not(p.items[i]->has_form_data);
		}
		cr_assert_eq(p.next_before == 0, page == 2);
		before = p.next_before;
		store_page_free(&p);
	}
	list_page(STORE_SENT, "advice-east", S(UNSPECIFIED), 10, 0, &p);
	cr_assert_eq(p.n, 5);
	cr_assert_str_eq(p.items[0]->id, s[4].id);
	cr_assert_eq(p.next_before, 0);
	store_page_free(&p);
	list_page(STORE_INBOX, "advice-east", S(UNSPECIFIED), 10, 0, &p);
	cr_assert_eq(p.n, 0);
	cr_assert_eq(p.next_before, 0);
	store_page_free(&p);
}

Test(store, list_filters_by_state)
{
	struct sample s[4];
	struct store_page p = {0};
	int64_t before;

	for (int i = 0; i < 4; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", 1000 + i);
		insert_ok(&s[i]);
	}
	cr_assert_eq(change(s[0].id, S(SENT), S(ACCEPTED), 1100, NULL), STORE_OK);
	cr_assert_eq(change(s[2].id, S(SENT), S(ACCEPTED), 1100, NULL), STORE_OK);
	list_page(STORE_INBOX, "shelter-north", S(ACCEPTED), 10, 0, &p);
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(p.items[0]->id, s[2].id);
	cr_assert_str_eq(p.items[1]->id, s[0].id);
	cr_assert_eq(p.items[0]->state, S(ACCEPTED));
	store_page_free(&p);
	list_page(STORE_SENT, "advice-east", S(SENT), 1, 0, &p);
	cr_assert_eq(p.n, 1);
	cr_assert_str_eq(p.items[0]->id, s[3].id);
	cr_assert_neq(p.next_before, 0);
	before = p.next_before;
	store_page_free(&p);
	list_page(STORE_SENT, "advice-east", S(SENT), 1, before, &p);
	cr_assert_str_eq(p.items[0]->id, s[1].id);
	cr_assert_eq(p.next_before, 0);
	store_page_free(&p);
}

Test(store, many_writes_share_few_commits)
{
	static struct sample s[1000];
	struct store_page p = {0};
	size_t before = store_commit_count(st);

	for (int i = 0; i < 1000; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", i);
		cr_assert_eq(store_insert(st, &s[i].r, on_done, NULL), 0);
	}
	cr_assert_leq(store_pending(st), 1000);
	wait_for(1000);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(statuses[i], STORE_OK, "write %d", i);
	}
	cr_assert_eq(store_pending(st), 0);
	cr_assert_lt(store_commit_count(st) - before, 100, "%zu commits for 1000 writes",
	             store_commit_count(st) - before);
	list_page(STORE_INBOX, "shelter-north", S(UNSPECIFIED), 2000, 0, &p);
	cr_assert_eq(p.n, 1000);
	store_page_free(&p);
}

Test(store, pending_counts_until_the_callback)
{
	struct sample s[3];

	for (int i = 0; i < 3; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", i);
		cr_assert_eq(store_insert(st, &s[i].r, on_done, NULL), 0);
	}
	cr_assert_eq(store_pending(st), 3);
	wait_for(3);
	cr_assert_eq(store_pending(st), 0);
}

Test(store, data_survives_reopen)
{
	struct sample s;
	Refex__Referral *r = NULL;

	sample_make(&s, "advice-east", "shelter-north", 100);
	insert_ok(&s);
	cr_assert_eq(change(s.id, S(SENT), S(WITHDRAWN), 200, "client moved away"), STORE_OK);
	store_close(st);
	st = open_store();
	cr_assert_eq(store_get(st, s.id, &r), STORE_OK);
	cr_assert_eq(r->state, S(WITHDRAWN));
	cr_assert_eq(r->n_history, 2);
	cr_assert_str_eq(r->history[1]->reason, "client moved away");
	cr_assert_str_eq(r->client->family_name, "Lovelace");
	store_referral_free(r);
}

Test(store, close_commits_queued_writes_and_runs_callbacks)
{
	static struct sample s[200];
	struct store_page p = {0};

	for (int i = 0; i < 200; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", i);
		cr_assert_eq(store_insert(st, &s[i].r, on_done, NULL), 0);
	}
	store_close(st);
	cr_assert_eq(n_done, 200, "every callback ran during close");
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(statuses[i], STORE_OK);
	}
	st = open_store();
	list_page(STORE_SENT, "advice-east", S(UNSPECIFIED), 500, 0, &p);
	cr_assert_eq(p.n, 200);
	store_page_free(&p);
}

Test(store, open_migrates_an_empty_file)
{
	char other[300], err[512] = "";
	struct store *s2;
	FILE *f;

	backend_only("sqlite");
	snprintf(other, sizeof(other), "%s/other.db", dir);
	cr_assert_not_null(f = fopen(other, "w"));
	fclose(f);
	s2 = store_open(other, base, err, sizeof(err));
	cr_assert_not_null(s2, "%s", err);
	store_close(s2);
}

Test(store, open_refuses_a_newer_schema)
{
	char other[300], err[512] = "";
	sqlite3 *db;

	backend_only("sqlite");
	snprintf(other, sizeof(other), "%s/other.db", dir);
	cr_assert_eq(sqlite3_open(other, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_null(store_open(other, base, err, sizeof(err)));
	cr_assert(strstr(err, "version 99") != NULL, "err: %s", err);
	cr_assert(strstr(err, "newer") != NULL, "err: %s", err);
}

Test(store, open_refuses_a_file_that_is_not_a_database)
{
	char other[300], err[512] = "";
	FILE *f;

	backend_only("sqlite");
	snprintf(other, sizeof(other), "%s/other.db", dir);
	cr_assert_not_null(f = fopen(other, "w"));
	for (int i = 0; i < 200; i++) {
		fputs("this is not a database, it is a shopping list\n", f);
	}
	fclose(f);
	cr_assert_null(store_open(other, base, err, sizeof(err)));
	cr_assert(strstr(err, "not a database") != NULL, "err: %s", err);
}

Test(store, open_reports_an_unusable_path)
{
	char other[300], err[512] = "";

	backend_only("sqlite");
	snprintf(other, sizeof(other), "%s/no/such/dir/refex.db", dir);
	cr_assert_null(store_open(other, base, err, sizeof(err)));
	cr_assert(strstr(err, other) != NULL, "err: %s", err);
	cr_assert(strstr(err, "unable to open") != NULL, "err: %s", err);
}

Test(store, new_ids_are_crockford_base32_and_distinct)
{
	static char ids[1000][STORE_ID_LEN + 1];

	for (int i = 0; i < 1000; i++) {
		store_new_id(ids[i]);
		cr_assert_eq(strlen(ids[i]), STORE_ID_LEN);
		cr_assert_eq(strspn(ids[i], "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), STORE_ID_LEN);
		for (int j = 0; j < i; j++) {
			cr_assert_str_neq(ids[i], ids[j]);
		}
	}
}

Test(store, new_ids_sort_by_creation_time)
{
	char first[STORE_ID_LEN + 1], later[STORE_ID_LEN + 1];
	struct timespec wait = {.tv_nsec = 2 * 1000 * 1000};

	store_new_id(first);
	nanosleep(&wait, NULL); /* ids carry milliseconds: move to a later one */
	store_new_id(later);
	cr_assert(strcmp(first, later) < 0, "%s was made before %s", first, later);
	/* 80 bits: 48 of time, 32 random; the random part differs within one millisecond. */
	store_new_id(first);
	store_new_id(later);
	cr_assert_str_neq(first, later);
}

/* Expect store_count_states to report sent, received and completed referrals as given. */
static void expect_counts(uint64_t sent, uint64_t received, uint64_t completed)
{
	uint64_t counts[STORE_STATES], overdue = 99;

	cr_assert_eq(store_count_states(st, counts, &overdue, 1800000000), STORE_OK);
	cr_expect_eq(counts[S(SENT)], sent, "sent: %llu", (unsigned long long)counts[S(SENT)]);
	cr_expect_eq(counts[S(RECEIVED)], received);
	cr_expect_eq(counts[S(COMPLETED)], completed);
	cr_expect_eq(counts[S(ACCEPTED)] + counts[S(DECLINED)] + counts[S(WITHDRAWN)], 0);
	cr_expect_eq(counts[0], 0);
	cr_expect_eq(overdue, 0, "no referral has a due time");
}

Test(store, state_counts_take_only_the_referrals_a_batch_stored)
{
	struct sample a, dup, b;
	enum store_status sd = STORE_OK, sb = STORE_UNAVAILABLE;

	sample_make(&a, "advice-east", "shelter-north", 100);
	insert_ok(&a);
	sample_make(&dup, "food-west", "shelter-north", 200);
	memcpy(dup.id, a.id, sizeof(a.id));
	sample_make(&b, "food-west", "shelter-north", 300);
	/* Normally one batch: the refused duplicate must not be counted with b. */
	cr_assert_eq(store_insert(st, &dup.r, on_done_into, &sd), 0);
	cr_assert_eq(store_insert(st, &b.r, on_done_into, &sb), 0);
	wait_for(3);
	cr_assert_eq(sd, STORE_DUPLICATE);
	cr_assert_eq(sb, STORE_OK);
	expect_counts(2, 0, 0);
}

Test(store, state_counts_follow_inserts_and_changes_and_survive_a_migration)
{
	struct sample s[3];
	sqlite3 *db;

	backend_only("sqlite");
	expect_counts(0, 0, 0);
	for (int i = 0; i < 3; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", 1700000000 + i);
		insert_ok(&s[i]);
	}
	cr_assert_eq(change(s[0].id, S(SENT), S(RECEIVED), 1700000100, NULL), STORE_OK);
	cr_assert_eq(change(s[1].id, S(SENT), S(RECEIVED), 1700000100, NULL), STORE_OK);
	cr_assert_eq(change(s[0].id, S(SENT), S(ACCEPTED), 1700000200, NULL), STORE_CONFLICT,
	             "a refused change counts nothing");
	expect_counts(1, 2, 0);
	store_close(st);

	/* A database from before the counts (schema version 2: what migrations 3 and later made
	 * is taken away): the migration counts what is already there. */
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(
	    sqlite3_exec(
	        db,
	        "DROP TRIGGER report_state; DROP TRIGGER "
	        "report_overdue;"
	        " DROP TRIGGER report_reason; DROP TRIGGER report_reason_erased;"
	        " DROP TABLE report_cells; DROP TABLE report_times; DROP TABLE report_reasons;"
	        " DROP TRIGGER IF EXISTS state_counts_insert; DROP TRIGGER state_counts_update;"
	        " DROP TRIGGER state_counts_delete; DROP TABLE state_counts;"
	        " DROP TABLE audit; DROP INDEX referrals_closed;"
	        " ALTER TABLE referrals DROP COLUMN purged_at; DROP INDEX referrals_parent;"
	        " ALTER TABLE referrals DROP COLUMN parent_id;"
	        " DROP TABLE consents; DROP TABLE client_versions; DROP TABLE clients;"
	        " DROP INDEX referrals_client; ALTER TABLE referrals DROP COLUMN client_id;"
	        " ALTER TABLE referrals DROP COLUMN client_version; DROP TABLE form_versions;"
	        " PRAGMA user_version = 2;",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	st = open_store();
	expect_counts(1, 2, 0);
	cr_assert_eq(change(s[0].id, S(RECEIVED), S(COMPLETED), 1700000300, "housed"), STORE_OK);
	expect_counts(1, 1, 1);
}

Test(store, postgresql_refuses_a_newer_schema)
{
	char err[512] = "", name[64];

	backend_only("postgresql");
	store_close(st);
	st = NULL;
	store_backends_pg_db_name(path, name, sizeof(name));
	store_backends_pg_admin(name, "UPDATE refex_schema SET version = 99");
	cr_assert_null(store_open(path, base, err, sizeof(err)));
	cr_assert(strstr(err, "version 99") != NULL, "err: %s", err);
	cr_assert(strstr(err, "newer") != NULL, "err: %s", err);
}

Test(store, postgresql_unreachable_says_so_without_the_password)
{
	char err[512] = "";

	backend_only("postgresql");
	cr_assert_null(
	    store_open("postgresql://refex:s3cret-pw@127.0.0.1:1/refex?connect_timeout=5", base,
	               err, sizeof(err)));
	cr_assert(strstr(err, "s3cret-pw") == NULL, "err: %s", err);
	cr_assert(strstr(err, "postgresql://127.0.0.1:1/refex") != NULL, "err: %s", err);
	cr_assert(strstr(err, "refused") != NULL || strstr(err, "connect") != NULL, "err: %s", err);
}

/* Two hubs purging at once (a hub that just lost the sweeps' lock and the new leader): store
 * handles a and b on one database, PostgreSQL connections lock (holding the audit chain's tail)
 * and watch (autocommit, to see who waits). */
struct purge_race {
	struct store *a, *b;
	PGconn *lock, *watch;
	enum store_status status[2];
	struct store_result res[2];
	int done;
};

/* A purge of the race has committed (or failed). */
static void purge_race_done(enum store_status status, const struct store_result *res, void *arg)
{
	struct purge_race *race = arg;

	race->status[race->done] = status;
	race->res[race->done] = *res;
	race->done++;
}

/* Run sql on c and expect it to succeed. */
static void race_sql(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);

	cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
	          "%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
}

/* Wait (up to 30 s) until n connections to the test's database wait for a lock, turning the
 * loop meanwhile (it hands queued jobs to the storage threads). */
static void pg_wait_for_waiters(PGconn *watch, int n)
{
	time_t deadline = time(NULL) + 30;
	int waiting = -1;
	PGresult *res;

	while (waiting != n && time(NULL) < deadline) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		res = PQexec(watch, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
		                    " current_database() AND wait_event_type = 'Lock'");
		cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(watch));
		waiting = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (waiting != n) {
			usleep(10000);
		}
	}
	cr_assert_eq(waiting, n, "%d connections wait for a lock, not %d", waiting, n);
}

/* Purge through a and b at once: a's purge changes its rows and then waits for the audit tail,
 * which lock holds; b's starts while a holds those rows, reading them as a found them; then
 * lock lets go, a commits and b goes on. Both purges' results are in race->res, as they came. */
static void purge_race_run(struct purge_race *race)
{
	const int64_t before = 1800000000;

	race->done = 0;
	race_sql(race->lock, "BEGIN");
	race_sql(race->lock, "SELECT one FROM audit_tail FOR UPDATE");
	cr_assert_eq(store_purge_closed(race->a, before, 0, before, purge_race_done, race), 0);
	pg_wait_for_waiters(race->watch, 1);
	cr_assert_eq(store_purge_closed(race->b, before, 0, before, purge_race_done, race), 0);
	pg_wait_for_waiters(race->watch, 2);
	race_sql(race->lock, "ROLLBACK");
	while (race->done < 2) {
		event_base_loop(base, EVLOOP_ONCE);
	}
	cr_assert_eq(race->status[0], STORE_OK);
	cr_assert_eq(race->status[1], STORE_OK);
}

/* Expect client id (owned by agency) erased, with one client-erase entry in its audit trail. */
static void expect_erased_once(const char *id, const char *agency)
{
	Refex__StoredClient *c = NULL;
	Refex__AuditEntry **entries = NULL;
	size_t n = 0, erases = 0;
	bool owner = false;

	cr_assert_eq(store_client_get(st, id, agency, &c, &owner), STORE_OK);
	cr_expect(c->has_erased_at, "client %s is not erased", id);
	store_client_free(c);
	cr_assert_eq(store_audit_list(st, id, 64, &entries, &n), STORE_OK);
	for (size_t i = 0; i < n; i++) {
		erases += strcmp(entries[i]->action, "client-erase") == 0;
	}
	store_audit_free(entries, n);
	cr_expect_eq(erases, 1, "client %s: %zu client-erase entries in its audit trail", id,
	             erases);
}

/* A client write has committed: its status where arg points. */
static void on_client_done(enum store_status status, const struct store_client_out *out, void *arg)
{
	(void)out;
	*(enum store_status *)arg = status;
	n_done++;
}

/* Store a client of agency's, last changed at `at`, that no referral holds; its id in id. */
static void client_add(char *id, const char *agency, int64_t at)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;
	enum store_status status = STORE_UNAVAILABLE;
	uint8_t record[64];
	struct store_client_write w = {.kind = SC_ADD,
	                               .id = id,
	                               .agency = agency,
	                               .holder = "caseworker-1",
	                               .at = at,
	                               .record = record,
	                               .name = "Grace Hopper"};
	int want = n_done + 1;

	c.given_name = "Grace";
	c.family_name = "Hopper";
	w.record_len = refex__client_record__pack(&c, record);
	store_new_id(id);
	cr_assert_eq(store_client_write(st, &w, on_client_done, &status), 0);
	wait_for(want);
	cr_assert_eq(status, STORE_OK);
}

Test(store, two_hubs_purging_at_once_erase_audit_and_count_each_client_once)
{
	enum { N = 6 };
	struct sample s[N];
	char name[64], free_id[N][STORE_ID_LEN + 1];
	struct purge_race race = {.a = st};

	backend_only("postgresql");
	race.b = open_store();
	store_backends_pg_db_name(path, name, sizeof(name));
	race.lock = store_backends_pg_connect(name);
	race.watch = store_backends_pg_connect(name);

	/* Closed referrals, each sharing a client of its own: the purge's first statement. */
	for (int i = 0; i < N; i++) {
		sample_make(&s[i], "advice-east", "shelter-north", 1700000000 + i);
		store_new_id(s[i].r.client_id);
		store_new_id(s[i].r.consent_id);
		insert_ok(&s[i]);
		cr_assert_eq(change(s[i].id, S(SENT), S(DECLINED), 1700000100, "no space"),
		             STORE_OK);
	}
	purge_race_run(&race);
	cr_expect_eq(race.res[0].purged + race.res[1].purged, N, "purged %zu + %zu",
	             race.res[0].purged, race.res[1].purged);
	cr_expect_eq(race.res[0].purged_clients + race.res[1].purged_clients, N,
	             "clients erased %zu + %zu", race.res[0].purged_clients,
	             race.res[1].purged_clients);
	for (int i = 0; i < N; i++) {
		expect_erased_once(s[i].r.client_id, "advice-east");
	}

	/* Clients no referral holds: the purge's last statement. */
	for (int i = 0; i < N; i++) {
		client_add(free_id[i], "advice-east", 1700000200);
	}
	purge_race_run(&race);
	cr_expect_eq(race.res[0].purged + race.res[1].purged, 0);
	cr_expect_eq(race.res[0].purged_clients + race.res[1].purged_clients, N,
	             "clients erased %zu + %zu", race.res[0].purged_clients,
	             race.res[1].purged_clients);
	for (int i = 0; i < N; i++) {
		expect_erased_once(free_id[i], "advice-east");
	}
	PQfinish(race.lock);
	PQfinish(race.watch);
	store_close(race.b);
}

/* ---- the news connection's host names, looked up on the loop (store_pg_lookup.c) ---- */

struct lookup_answer {
	int calls;
	char host[256], hostaddr[256], port[64];
};

static void on_lookup(void *arg, const char *host, const char *hostaddr, const char *port)
{
	struct lookup_answer *a = arg;

	a->calls++;
	snprintf(a->host, sizeof(a->host), "%s", host ? host : "(failed)");
	snprintf(a->hostaddr, sizeof(a->hostaddr), "%s", hostaddr ? hostaddr : "(failed)");
	snprintf(a->port, sizeof(a->port), "%s", port ? port : "(failed)");
}

/* Look url's host names up with a resolver that knows only a hosts file of the test's (names
 * under .test, which no system resolver answers) and a name server that never answers (a
 * socket of the test's); return what pg_lookup_start said. */
static int lookup(const char *url, struct lookup_answer *a)
{
	struct event_base *b = event_base_new();
	struct evdns_base *dns = evdns_base_new(b, 0);
	char hosts[] = "/tmp/refex-hosts-XXXXXX";
	int fd = mkstemp(hosts), rc, silent = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ns = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t ns_len = sizeof(ns);
	struct pg_lookup *lk;

	cr_assert(b != NULL && dns != NULL && fd >= 0);
	dprintf(fd, "127.0.0.1 db.refex.test\n::1 db.refex.test\n192.0.2.7 replica.refex.test\n");
	close(fd);
	cr_assert_eq(evdns_base_load_hosts(dns, hosts), 0);
	unlink(hosts);
	cr_assert_eq(bind(silent, (struct sockaddr *)&ns, sizeof(ns)), 0);
	cr_assert_eq(getsockname(silent, (struct sockaddr *)&ns, &ns_len), 0);
	cr_assert_eq(evdns_base_nameserver_sockaddr_add(dns, (struct sockaddr *)&ns, ns_len, 0), 0);
	cr_assert_eq(evdns_base_set_option(dns, "timeout:", "0.2"), 0);
	cr_assert_eq(evdns_base_set_option(dns, "attempts:", "1"), 0);
	memset(a, 0, sizeof(*a));
	rc = pg_lookup_start(b, dns, url, on_lookup, a, &lk);
	cr_assert_eq(a->calls, 0, "the answer came before pg_lookup_start returned");
	/* The name server, once it has failed, is probed for ever: loop until the answer. */
	while (rc == 0 && a->calls == 0) {
		event_base_loop(b, EVLOOP_ONCE);
	}
	event_base_loop(b, EVLOOP_NONBLOCK);
	pg_lookup_free(lk);
	evdns_base_free(dns, 0);
	event_base_free(b);
	close(silent);
	return rc;
}

Test(pg_lookup, a_host_name_becomes_its_addresses_beside_the_name)
{
	struct lookup_answer a;

	cr_assert_eq(
	    lookup("postgresql://refexd:pw@db.refex.test:6543/refex?sslmode=verify-full", &a), 0);
	cr_assert_eq(a.calls, 1);
	cr_expect_str_eq(a.host, "db.refex.test,db.refex.test");
	cr_expect(strcmp(a.hostaddr, "127.0.0.1,::1") == 0 ||
	              strcmp(a.hostaddr, "::1,127.0.0.1") == 0,
	          "hostaddr: %s", a.hostaddr);
	cr_expect_str_eq(a.port, "", "one port: the URL's stands");
}

Test(pg_lookup, each_host_of_a_list_keeps_its_port)
{
	struct lookup_answer a;

	cr_assert_eq(lookup("postgresql://127.0.0.1:1,replica.refex.test:2/refex", &a), 0);
	cr_assert_eq(a.calls, 1);
	cr_expect_str_eq(a.host, "127.0.0.1,replica.refex.test");
	cr_expect_str_eq(a.hostaddr, ",192.0.2.7", "an address is libpq's to read: %s", a.hostaddr);
	cr_expect_str_eq(a.port, "1,2");
}

Test(pg_lookup, a_name_that_does_not_resolve_is_left_out_as_libpq_skips_it)
{
	struct lookup_answer a;

	cr_assert_eq(lookup("postgresql://gone.refex.test:1,replica.refex.test:2/refex", &a), 0);
	cr_assert_eq(a.calls, 1);
	cr_expect_str_eq(a.host, "replica.refex.test");
	cr_expect_str_eq(a.hostaddr, "192.0.2.7");
	cr_expect_str_eq(a.port, "2");
	cr_assert_eq(lookup("postgresql://gone.refex.test/refex", &a), 0);
	cr_expect_str_eq(a.host, "(failed)", "none resolves: the attempt fails");
}

Test(pg_lookup, addresses_socket_directories_and_hostaddr_need_no_lookup)
{
	const char *urls[] = {
	    "postgresql://127.0.0.1:5432/refex",
	    "postgresql://[::1]/refex",
	    "postgresql://[fe80::1%25eth0]:5432/refex",
	    "postgresql:///refex?host=/run/postgresql",
	    "postgresql://db.refex.test/refex?hostaddr=192.0.2.9",
	};
	struct lookup_answer a;

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		cr_expect_eq(lookup(urls[i], &a), 1, "%s", urls[i]);
		cr_expect_eq(a.calls, 0, "%s", urls[i]);
	}
}

Test(pg_lookup, a_url_libpq_cannot_read_is_refused)
{
	struct lookup_answer a;

	cr_expect_eq(lookup("postgresql://db.refex.test/refex?no_such_option=1", &a), -1);
	cr_expect_eq(a.calls, 0);
}

static void news_ignored(void *arg, const char *agency)
{
	(void)arg, (void)agency;
}

static void news_resynced(void *arg)
{
	(*(int *)arg)++;
}

/* A hub whose database URL names a host name (here after the test server's socket directory,
 * which libpq tries first) gets its news connection through the lookup's answer. */
Test(store, news_listens_through_a_url_with_a_host_name)
{
	const struct store_news_ops ops = {news_ignored, news_ignored, news_resynced};
	char url[sizeof(path) + 16], err[512] = "";
	const char *host = strstr(path, "host=");
	time_t deadline = time(NULL) + 60;
	struct store_news *n = NULL;
	int resynced = 0;
	size_t at;

	backend_only("postgresql");
	cr_assert_not_null(host, "no host in %s", path);
	at = (size_t)(host - path) + strcspn(host, "&");
	snprintf(url, sizeof(url), "%.*s,localhost%s", (int)at, path, path + at);
	store_close(st);
	st = store_open(url, base, err, sizeof(err));
	cr_assert_not_null(st, "store_open: %s", err);
	cr_assert_eq(store_news_start(st, base, &ops, &resynced, &n), 0);
	while (resynced == 0 && time(NULL) < deadline) {
		event_base_loop(base, EVLOOP_ONCE);
	}
	store_news_stop(n);
	cr_expect_eq(resynced, 1, "the news connection did not listen");
}
