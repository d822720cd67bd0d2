/* protobuf-c's memory budget: real messages decode within it, a small frame of empty repeated
 * elements does not make protobuf-c allocate much, and no message nests itself. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "form.h"
#include "forms/housing_support.pb-c.h"
#include "pballoc.h"
#include "refex.pb-c.h"

static size_t put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v > 0);
	return n;
}

/* A Request submitting a client record with n empty access needs: 2 bytes each on the wire,
 * each costing protobuf-c a pointer, a string and a scan slot. Returns its length. */
static size_t empty_access_needs(uint8_t *buf, size_t n)
{
	size_t client_len = 3 + 3 + 2 * n, submit_len, off = 0;
	uint8_t hdr[11];

	submit_len = 1 + put_varint(hdr, client_len) + client_len;
	buf[off++] = 3 << 3 | 2; /* Request.submit */
	off += put_varint(buf + off, submit_len);
	buf[off++] = 5 << 3 | 2; /* SubmitReferral.client */
	off += put_varint(buf + off, client_len);
	memcpy(buf + off,
	       "\x0a\x01"
	       "a\x12\x01"
	       "b",
	       6); /* the required names */
	off += 6;
	for (size_t i = 0; i < n; i++) {
		buf[off++] = 12 << 3 | 2; /* ClientRecord.access_needs, empty */
		buf[off++] = 0;
	}
	return off;
}

/* The forms compiled in (proto/forms/): what these tests check against. */
static void use_compiled_forms(void)
{
	form_set_use(form_set_compiled());
}

TestSuite(pballoc, .init = use_compiled_forms);

Test(pballoc, a_megabyte_of_empty_repeated_elements_is_refused_within_budget)
{
	size_t n = 500000, len;
	uint8_t *buf = malloc(2 * n + 64);
	struct pballoc unlimited, budget;
	Refex__Request *req;

	cr_assert_not_null(buf);
	len = empty_access_needs(buf, n);
	cr_assert_leq(len, 1024 * 1024, "fits in a default frame");

	/* Without a budget it decodes, at many times its size. */
	pballoc_init_budget(&unlimited, SIZE_MAX);
	req = refex__request__unpack(&unlimited.allocator, len, buf);
	cr_assert_not_null(req);
	cr_assert_eq(req->submit->client->n_access_needs, n);
	cr_expect_gt(unlimited.spent, PBALLOC_PER_BYTE * len, "the attack is no attack (%zu bytes)",
	             unlimited.spent);
	refex__request__free_unpacked(req, NULL);

	pballoc_init(&budget, len);
	cr_expect_null(refex__request__unpack(&budget.allocator, len, buf));
	cr_expect(budget.exhausted);
	cr_expect_leq(budget.spent, budget.budget);
	free(buf);
}

Test(pballoc, a_large_real_request_decodes_within_budget)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	Refex__ClientRecord client = REFEX__CLIENT_RECORD__INIT;
	Refex__Address addr = REFEX__ADDRESS__INIT;
	Refex__Consent consent = REFEX__CONSENT__INIT;
	char *needs[40];
	char notes[4000];
	uint8_t form[64];
	uint8_t *buf;
	size_t len;
	struct pballoc budget;
	Refex__Request *back;

	for (size_t i = 0; i < 40; i++) {
		needs[i] = "step-free access";
	}
	memset(notes, 'n', sizeof(notes) - 1);
	notes[sizeof(notes) - 1] = '\0';
	client.given_name = "Amira";
	client.family_name = "Khan";
	client.preferred_name = client.pronouns = client.phone = client.email = "x";
	client.date_of_birth = "1990-04-01";
	addr.line1 = addr.line2 = addr.town = addr.postcode = "1 High Street";
	client.address = &addr;
	client.n_access_needs = 40;
	client.access_needs = needs;
	client.safety_notes = notes;
	consent.to_agency = "eastside-housing";
	consent.purpose = "housing support referral";
	consent.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	memset(form, 0x08, sizeof(form));
	sub.to = "eastside-housing";
	sub.form = "housing_support";
	sub.has_form_data = 1;
	sub.form_data.data = form;
	sub.form_data.len = sizeof(form);
	sub.client = &client;
	sub.consent = &consent;
	req.has_id = 1;
	req.id = 7;
	req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	req.submit = &sub;
	len = refex__request__get_packed_size(&req);
	buf = malloc(len);
	cr_assert_not_null(buf);
	refex__request__pack(&req, buf);

	pballoc_init(&budget, len);
	back = refex__request__unpack(&budget.allocator, len, buf);
	cr_assert_not_null(back, "a real request was refused (%zu of %zu bytes spent)",
	                   budget.spent, budget.budget);
	cr_expect_eq(back->submit->client->n_access_needs, 40);
	refex__request__free_unpacked(back, NULL);
	free(buf);
}

Test(pballoc, a_household_form_decodes_within_budget)
{
	Refex__Forms__HousingSupport h = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__Forms__HousingSupport__HouseholdMember m =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember *members[200];
	struct pbcheck_result res;
	uint8_t *buf;
	size_t len;

	m.relationship = "child";
	m.has_age = 1;
	m.age = 4;
	for (size_t i = 0; i < 200; i++) {
		members[i] = &m;
	}
	h.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	h.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__LODGER;
	h.n_household_members = 200;
	h.household_members = members;
	len = refex__forms__housing_support__get_packed_size(&h);
	buf = malloc(len);
	cr_assert_not_null(buf);
	refex__forms__housing_support__pack(&h, buf);
	cr_expect_eq(form_check(form_find("housing_support"), buf, len, &res), 0, "%s",
	             res.message);
	free(buf);
}

Test(pballoc, a_form_of_empty_repeated_elements_is_too_complex)
{
	size_t n = 300000, off = 0;
	uint8_t *buf = malloc(2 * n + 16);
	struct pbcheck_result res;

	cr_assert_not_null(buf);
	memcpy(buf, "\x10\x64\x30\x01", 4); /* the required total and enforcement_action */
	off = 4;
	for (size_t i = 0; i < n; i++) {
		buf[off++] = 1 << 3; /* DebtAdvice.debt_types, one unpacked enum at a time */
		buf[off++] = 1;
	}
	cr_expect_eq(form_check(form_find("debt_advice"), buf, off, &res), -1);
	cr_expect_eq(res.problem, PBCHECK_TOO_COMPLEX, "%d: %s", res.problem, res.message);
	free(buf);
}

/* Say whether a message reachable from desc contains itself; path holds the descriptors on
 * the way down. */
static bool nests_itself(const ProtobufCMessageDescriptor *desc,
                         const ProtobufCMessageDescriptor **path, size_t depth)
{
	for (size_t i = 0; i < depth; i++) {
		if (path[i] == desc) {
			return true;
		}
	}
	cr_assert_lt(depth, 32, "schema deeper than 32 levels at %s", desc->name);
	path[depth] = desc;
	for (unsigned f = 0; f < desc->n_fields; f++) {
		if (desc->fields[f].type == PROTOBUF_C_TYPE_MESSAGE &&
		    nests_itself(desc->fields[f].descriptor, path, depth + 1)) {
			cr_log_error(
			    "%s contains %s", desc->name,
			    ((const ProtobufCMessageDescriptor *)desc->fields[f].descriptor)->name);
			return true;
		}
	}
	return false;
}

/* pballoc.h relies on this: without recursive messages, protobuf-c nests no deeper than the
 * schema. A recursive message needs a depth bound before it goes in. */
Test(pballoc, no_message_nests_itself)
{
	const ProtobufCMessageDescriptor *roots[8] = {
	    &refex__request__descriptor, &refex__server_message__descriptor,
	    &refex__client_record__descriptor, &refex__consent__descriptor};
	const ProtobufCMessageDescriptor *path[32];
	size_t n = 4;

	for (size_t i = 0; i < form_count(); i++) {
		cr_assert_lt(n, 8);
		roots[n++] = form_at(i)->desc;
	}
	for (size_t i = 0; i < n; i++) {
		cr_expect_not(nests_itself(roots[i], path, 0), "%s nests itself", roots[i]->name);
	}
}
