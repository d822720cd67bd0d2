/* Consent and other lawful bases: a stored client is shared only under a live consent or a
 * recorded basis with a reason; withdrawal takes effect at once and is shown to the holders. */
#include "clients_fixture.h"

TestSuite(consent, .init = clients_setup, .fini = clients_teardown, .timeout = 120);

Test(consent, refused_without_allowed_with_refused_again_after_withdrawal)
{
	char id[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1], ref[REFEX_ID_LEN + 1];
	char ref2[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j, *list;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	cr_expect_eq(submit_stored(id, ref, &r), 1);
	cr_expect(strstr(r.err, "no live consent or other lawful basis") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "(field: consent)") != NULL, "%s", r.err);
	run_result_free(&r);
	expect_box_empty(net, east, "inbox");

	consent_to(id, "eastside-housing", cid);
	cr_assert_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	j = REFEX_JSON(east, "show", ref);
	cr_expect_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "consent"), "purpose")),
	    "housing support referral", "the referral records the consent used");
	cr_expect_null(json_object_get(j, "consentWithdrawnAt"));
	json_decref(j);

	list = REFEX_JSON(north, "consent", "list", id);
	json_t *k = json_array_get(json_object_get(list, "consents"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(k, "toAgency")), "eastside-housing");
	cr_expect_str_eq(json_string_value(json_object_get(k, "method")), "CONSENT_VERBAL");
	cr_expect_str_eq(json_string_value(json_object_get(k, "recordedAgency")), "north-advice");
	cr_expect_str_eq(json_string_value(json_object_get(k, "recordedBy")), "Priya Shah");
	cr_expect_not_null(json_object_get(k, "recordedAt"));
	json_decref(list);

	cr_assert_eq(run_refex(&r, net, north, "consent", "withdraw", cid, "--reason",
	                       "the client changed their mind", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(submit_stored(id, ref2, &r), 1, "withdrawal takes effect at once");
	cr_expect(strstr(r.err, "withdrew consent") != NULL, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, north, "consent", "withdraw", cid, NULL), 1, "only once");
	run_result_free(&r);

	/* Who already holds the record is told. */
	j = REFEX_JSON(east, "show", ref);
	cr_expect_not_null(json_object_get(j, "consentWithdrawnAt"));
	json_decref(j);
	cr_assert_eq(run_refex(&r, net, east, "show", ref, NULL), 0);
	cr_expect(strstr(r.out, "consent withdrawn on ") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, east, "client", "show", id, NULL), 0);
	cr_expect(strstr(r.out, "consent withdrawn on ") != NULL, "%s", r.out);
	run_result_free(&r);
	list = REFEX_JSON(east, "consent", "list", id);
	cr_expect_not_null(
	    json_object_get(json_array_get(json_object_get(list, "consents"), 0), "withdrawnAt"));
	json_decref(list);
}

Test(consent, any_partner_covers_every_partner_and_another_agency_covers_nothing)
{
	char id[REFEX_ID_LEN + 1], id2[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	char ref[REFEX_ID_LEN + 1];
	struct run_result r;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	consent_to(id, "third-party", cid);
	cr_expect_eq(submit_stored(id, ref, &r), 1, "consent to another agency");
	run_result_free(&r);

	client_add(north, "Tomasz", "Nowak", NULL, id2, NULL);
	cr_assert_eq(run_refex(&r, net, north, "consent", "add", id2, "--any-partner", "--purpose",
	                       "referrals for support", "--method", "written", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(submit_stored(id2, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
}

Test(consent, another_lawful_basis_needs_a_reason_and_then_allows_sharing)
{
	char id[REFEX_ID_LEN + 1], ref[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	cr_expect_eq(run_refex(&r, net, north, "consent", "add", id, "--to", "eastside-housing",
	                       "--basis", "safeguarding", NULL),
	             1);
	cr_expect(strstr(r.err, "needs a reason") != NULL, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, north, "consent", "add", id, "--to", "eastside-housing",
	                       "--basis", "safeguarding", "--method", "verbal", "--reason", "x",
	                       NULL),
	             1, "a basis other than consent has no method");
	run_result_free(&r);
	cr_expect_eq(submit_stored(id, ref, &r), 1);
	run_result_free(&r);

	cr_assert_eq(run_refex(&r, net, north, "consent", "add", id, "--to", "eastside-housing",
	                       "--basis", "safeguarding", "--reason",
	                       "asking would put the client at risk", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	j = REFEX_JSON(east, "show", ref);
	cr_expect_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "consent"), "method")),
	    "CONSENT_OTHER_BASIS");
	cr_expect(
	    strstr(json_string_value(json_object_get(json_object_get(j, "consent"), "purpose")),
	           "safeguarding: asking would put") != NULL);
	json_decref(j);
}

Test(consent, dates_and_owners_are_checked)
{
	char id[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1], ref[REFEX_ID_LEN + 1];
	struct run_result r;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	cr_expect_eq(run_refex(&r, net, north, "consent", "add", id, "--to", "eastside-housing",
	                       "--purpose", "p", "--method", "verbal", "--expires", "2001-01-01",
	                       NULL),
	             1, "already expired");
	cr_expect(strstr(r.err, "expires") != NULL, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, north, "consent", "add", id, "--to", "eastside-housing",
	                       "--purpose", "p", "--method", "verbal", "--expires", "2099-02-30",
	                       NULL),
	             1, "no such day");
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, north, "consent", "add", id, "--to", "eastside-housing",
	                       "--purpose", "p", "--method", "digital", "--expires", "2099-12-31",
	                       NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	/* The recipient holds the record but does not own it: it records no consent for it. */
	cr_expect_eq(run_refex(&r, net, east, "consent", "add", id, "--to", "third-party",
	                       "--purpose", "p", "--method", "verbal", NULL),
	             1);
	cr_expect(strstr(r.err, "only the agency that recorded") != NULL, "%s", r.err);
	run_result_free(&r);
	consent_to(id, "eastside-housing", cid);
	cr_expect_eq(run_refex(&r, net, east, "consent", "withdraw", cid, NULL), 1,
	             "nor withdraws it");
	run_result_free(&r);
}

Test(consent, an_inline_client_and_consent_are_stored_for_the_sender)
{
	char ref[REFEX_ID_LEN + 1];
	const char *id;
	struct run_result r;
	json_t *list, *consents, *j;

	submit_housing(net, north, FIXTURE("housing.json"), ref);
	list = REFEX_JSON(north, "client", "list");
	cr_assert_eq(json_array_size(json_object_get(list, "clients")), 1, "stored as a client");
	id = json_string_value(
	    json_object_get(json_array_get(json_object_get(list, "clients"), 0), "id"));
	consents = REFEX_JSON(north, "consent", "list", id);
	cr_expect_eq(json_array_size(json_object_get(consents, "consents")), 1);
	cr_expect_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(consents, "consents"), 0), "toAgency")),
	                 "eastside-housing", "the submission's consent is on record");
	j = REFEX_JSON(east, "show", ref);
	cr_expect_str_eq(json_string_value(json_object_get(j, "clientId")), id);
	json_decref(j);
	/* And it can be shared again under that consent. */
	cr_expect_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	json_decref(consents);
	json_decref(list);
}
