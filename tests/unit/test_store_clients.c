/* The pure rules of client records: the duplicate key, days. */
#include <criterion/criterion.h>
#include <string.h>

#include "client.pb-c.h"
#include "store_clients.h"

static void key_of(const char *given, const char *family, const char *dob, char *buf, size_t len)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;

	c.given_name = (char *)given;
	c.family_name = (char *)family;
	c.date_of_birth = (char *)dob;
	store_client_dup_key(&c, buf, len);
}

Test(store_clients, the_duplicate_key_ignores_case_and_surrounding_space)
{
	char a[STORE_DUP_KEY_MAX], b[STORE_DUP_KEY_MAX];

	key_of("Amira", "Khan", "1990-04-01", a, sizeof(a));
	key_of("  aMIRA", "KHAN\t", "1990-04-01", b, sizeof(b));
	cr_expect_str_eq(a, b);
	cr_expect_str_eq(a, "amira|khan|1990-04-01");
	key_of("Amira", "Khan", "1990-04-02", b, sizeof(b));
	cr_expect_str_neq(a, b, "another date of birth");
	key_of("Amira", "Khan", NULL, b, sizeof(b));
	cr_expect_str_eq(b, "amira|khan|", "no date of birth matches only no date of birth");
	/* Names that would run together are kept apart by the separator. */
	key_of("Ami", "raKhan", "1990-04-01", b, sizeof(b));
	cr_expect_str_neq(a, b);
}

Test(store_clients, the_duplicate_key_is_cut_to_its_buffer)
{
	char small[8];

	key_of("Alexandra", "Khan", NULL, small, sizeof(small));
	cr_expect_eq(strlen(small), sizeof(small) - 1);
}

Test(store_clients, days_are_utc_dates)
{
	char day[11];

	store_day(0, day);
	cr_expect_str_eq(day, "1970-01-01");
	store_day(1709251199, day); /* 2024-02-29 23:59:59 UTC */
	cr_expect_str_eq(day, "2024-02-29");
	store_day(1709251200, day);
	cr_expect_str_eq(day, "2024-03-01");
}

/* ---- the store: a withdrawal committed before a share refuses it ---- */

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char dir[256], path[300];
static struct event_base *base;
static struct store *st;
static int n_done;

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char err[512] = "";

	snprintf(dir, sizeof(dir), "%s/refex-test-clients-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/refex.db", dir);
	cr_assert_not_null(base = event_base_new());
	n_done = 0;
	cr_assert_not_null(st = store_open(path, base, err, sizeof(err)), "%s", err);
}

static void teardown(void)
{
	char f[400];

	store_close(st);
	event_base_free(base);
	for (int i = 0; i < 3; i++) {
		snprintf(f, sizeof(f), "%s%s", path, (const char *[]){"", "-wal", "-shm"}[i]);
		unlink(f);
	}
	rmdir(dir);
}

static void on_client(enum store_status status, const struct store_client_out *out, void *arg)
{
	(void)out;
	*(enum store_status *)arg = status;
	n_done++;
}

static void on_insert(enum store_status status, const struct store_result *res, void *arg)
{
	(void)res;
	*(enum store_status *)arg = status;
	n_done++;
}

static void wait_for(int n)
{
	while (n_done < n) {
		event_base_loop(base, EVLOOP_ONCE);
	}
}

TestSuite(store_clients_share, .init = setup, .fini = teardown, .timeout = 60);

/* Queue a referral from north sharing version 1 of stored client id (packed in record) with to;
 * ref gets its id. */
static void share(const char *id, const uint8_t *record, size_t record_len, const char *to,
                  char ref[STORE_ID_LEN + 1], enum store_status *status)
{
	struct store_new_referral r;

	store_new_id(ref);
	r = (struct store_new_referral){.id = ref,
	                                .sender = "north",
	                                .sender_holder = "Priya",
	                                .recipient = to,
	                                .form = "housing_support",
	                                .form_version = 1,
	                                .created_at = (int64_t)time(NULL),
	                                .client_name = "Ada Lovelace",
	                                .client = record,
	                                .client_len = record_len,
	                                .client_version = 1};
	snprintf(r.client_id, sizeof(r.client_id), "%s", id);
	cr_assert_eq(store_insert(st, &r, on_insert, status), 0);
}

Test(store_clients_share, a_withdrawal_queued_first_wins_over_a_share_in_the_same_commit)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;
	Refex__ConsentRecord **list = NULL;
	Refex__Referral *got = NULL;
	uint8_t record[128];
	char id[STORE_ID_LEN + 1], consent[STORE_ID_LEN + 1], east[STORE_ID_LEN + 1];
	char west[STORE_ID_LEN + 1], late[STORE_ID_LEN + 1];
	enum store_status s1 = STORE_UNAVAILABLE, s2 = s1, s3 = s1, s4 = s1, s5 = s1, s6 = s1;
	int64_t now = (int64_t)time(NULL);
	struct store_client_write w = {.agency = "north", .holder = "Priya", .at = now};
	size_t record_len, n = 0;

	c.given_name = "Ada";
	c.family_name = "Lovelace";
	store_new_id(id);
	store_new_id(consent);
	w.kind = SC_ADD;
	w.id = id;
	w.record = record;
	w.record_len = record_len = refex__client_record__pack(&c, record);
	w.name = "Ada Lovelace";
	cr_assert_eq(store_client_write(st, &w, on_client, &s1), 0);
	w = (struct store_client_write){.kind = SC_CONSENT_ADD,
	                                .id = consent,
	                                .client_id = id,
	                                .agency = "north",
	                                .holder = "Priya",
	                                .at = now,
	                                .to_agency = "east",
	                                .basis = REFEX__LAWFUL_BASIS__BASIS_CONSENT,
	                                .method = REFEX__CONSENT_METHOD__CONSENT_VERBAL,
	                                .purpose = "housing"};
	cr_assert_eq(store_client_write(st, &w, on_client, &s2), 0);
	wait_for(2);
	cr_assert_eq(s1, STORE_OK);
	cr_assert_eq(s2, STORE_OK);
	share(id, record, record_len, "east", east, &s3);
	share(id, record, record_len, "west", west, &s4);
	wait_for(4);
	cr_expect_eq(s3, STORE_OK);
	cr_expect_eq(s4, STORE_REFUSED, "the consent covers east only");

	/* The handler saw a live consent; the withdrawal is queued before the share. */
	w = (struct store_client_write){.kind = SC_CONSENT_WITHDRAW,
	                                .id = consent,
	                                .agency = "north",
	                                .holder = "Priya",
	                                .at = now};
	cr_assert_eq(store_client_write(st, &w, on_client, &s5), 0);
	share(id, record, record_len, "east", late, &s6);
	wait_for(6);
	cr_expect_eq(s5, STORE_OK);
	cr_expect_eq(s6, STORE_REFUSED, "the write checks the consent again");
	/* What the handlers read: the recipient's consents, and the referral already shared. */
	cr_assert_eq(store_consent_list(st, id, "east", false, &list, &n), STORE_OK);
	cr_assert_eq(n, 1);
	cr_expect(list[0]->has_withdrawn_at);
	store_consent_list_free(list, n);
	cr_assert_eq(store_get(st, east, &got), STORE_OK);
	cr_expect_str_eq(got->client_id, id);
	cr_expect(got->has_consent_withdrawn_at, "the referral shown says consent was withdrawn");
	cr_expect_not(got->has_client_erased_at);
	store_referral_free(got);
}
