/* The agreed forms registry, and the explanations a referrer gets for bad form data. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "form.h"
#include "forms/debt_advice.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "pbcheck.h"
#include "refex.pb-c.h"

/* A hand-rolled protobuf writer, so tests can say exactly what is on the wire. */
struct wbuf {
	uint8_t b[1024];
	size_t n;
};

static void put_varint(struct wbuf *w, uint64_t v)
{
	do {
		cr_assert_lt(w->n, sizeof(w->b));
		w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void put_uint(struct wbuf *w, unsigned field, uint64_t v)
{
	put_varint(w, field << 3 | 0);
	put_varint(w, v);
}

static void put_bytes(struct wbuf *w, unsigned field, const void *p, size_t len)
{
	put_varint(w, field << 3 | 2);
	put_varint(w, len);
	cr_assert_leq(w->n + len, sizeof(w->b));
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void put_string(struct wbuf *w, unsigned field, const char *s)
{
	put_bytes(w, field, s, strlen(s));
}

/* The two required fields of housing_support: situation and tenure. */
static void put_housing_required(struct wbuf *w)
{
	put_uint(w, 1, REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING);
	put_uint(w, 2, REFEX__FORMS__HOUSING_SUPPORT__TENURE__LODGER);
}

static const struct form *housing(void)
{
	const struct form *f = form_find("housing_support");

	cr_assert_not_null(f);
	return f;
}

/* Expect form_check to refuse w with problem p at path. */
static void refused(const struct wbuf *w, enum pbcheck_problem p, const char *path)
{
	struct pbcheck_result res;

	cr_assert_eq(form_check(housing(), w->b, w->n, &res), -1);
	cr_assert_eq(res.problem, p, "problem %d at '%s': %s", res.problem, res.path, res.message);
	cr_assert_str_eq(res.path, path, "message: %s", res.message);
	cr_assert_neq(res.message[0], '\0');
}

/* The forms compiled in (proto/forms/): what these tests check against. */
static void use_compiled_forms(void)
{
	form_set_use(form_set_compiled());
}

TestSuite(form, .init = use_compiled_forms);

Test(form, registry_lookup)
{
	const struct form *f = form_find("housing_support");
	size_t i;

	cr_assert_eq(form_count(), 3);
	cr_assert_not_null(f);
	cr_assert_eq(f->version, 1);
	cr_assert_str_eq(f->title, "Housing support");
	cr_assert_eq(f->desc, &refex__forms__housing_support__descriptor);
	cr_assert_not_null(form_find("food_support"));
	cr_assert_eq(form_find("debt_advice")->desc, &refex__forms__debt_advice__descriptor);
	cr_assert_null(form_find("housing"));
	cr_assert_null(form_find("Housing_Support"));
	cr_assert_null(form_find(""));
	cr_assert_null(form_find(NULL));
	for (i = 1; i < form_count(); i++)
		cr_assert_lt(strcmp(form_at(i - 1)->name, form_at(i)->name), 0);
	cr_assert_str_eq(form_at(0)->name, "debt_advice");
	cr_assert_null(form_at(form_count()));
}

Test(form, valid_housing_support_passes)
{
	Refex__Forms__HousingSupport h = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__Forms__HousingSupport__HouseholdMember m0 =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember m1 =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember *members[] = {&m0, &m1};
	struct pbcheck_result res;
	uint8_t buf[256];
	size_t len;

	h.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__AT_RISK_OF_EVICTION;
	h.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED;
	m0.relationship = "partner";
	m1.relationship = "child";
	m1.has_age = 1;
	m1.age = 4;
	h.n_household_members = 2;
	h.household_members = members;
	h.notice_type = "section 21";
	len = refex__forms__housing_support__get_packed_size(&h);
	cr_assert_leq(len, sizeof(buf));
	refex__forms__housing_support__pack(&h, buf);

	cr_assert_eq(form_check(housing(), buf, len, &res), 0);
	/* The explainer agrees: nothing to report on a good form. */
	cr_assert_eq(pbcheck_explain(housing()->desc, buf, len, &res), PBCHECK_OK);
	cr_assert_str_eq(res.path, "");
}

Test(form, missing_tenure_is_named)
{
	struct wbuf w = {0};

	put_uint(&w, 1, REFEX__FORMS__HOUSING_SUPPORT__SITUATION__ROUGH_SLEEPING);
	refused(&w, PBCHECK_MISSING_REQUIRED, "tenure");
}

Test(form, empty_form_misses_its_first_required_field)
{
	struct pbcheck_result res;

	cr_assert_eq(form_check(housing(), NULL, 0, &res), -1);
	cr_assert_eq(res.problem, PBCHECK_MISSING_REQUIRED);
	cr_assert_str_eq(res.path, "currentSituation");
}

Test(form, nested_missing_required_is_named)
{
	struct wbuf w = {0}, m0 = {0}, m1 = {0};

	put_housing_required(&w);
	put_string(&m0, 1, "partner");
	put_uint(&m1, 2, 3); /* age, but no relationship */
	put_bytes(&w, 4, m0.b, m0.n);
	put_bytes(&w, 4, m1.b, m1.n);
	refused(&w, PBCHECK_MISSING_REQUIRED, "householdMembers[1].relationship");
}

/* protobuf-c 1.4 decodes a bool sent as a 64-bit value; the form check does not let it pass
 * (found by tests/fuzz/fuzz_form: corpus/form/bool-as-64-bit). */
Test(form, a_bool_in_the_wrong_wire_type_is_refused)
{
	struct wbuf w = {0};

	put_housing_required(&w);
	put_varint(&w, 5 << 3 | 1); /* notice_received, as a 64-bit value */
	memcpy(w.b + w.n, "\x01\0\0\0\0\0\0\0", 8);
	w.n += 8;
	refused(&w, PBCHECK_WRONG_TYPE, "noticeReceived");
}

Test(form, garbage_is_malformed)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	struct pbcheck_result res;
	struct wbuf w = {0};

	cr_assert_eq(form_check(housing(), junk, sizeof(junk), &res), -1);
	cr_assert_eq(res.problem, PBCHECK_MALFORMED);

	/* "GET / HTTP/1.1": not protobuf either. */
	cr_assert_eq(form_check(housing(), (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &res), -1);
	cr_assert_eq(res.problem, PBCHECK_MALFORMED, "got %d: %s", res.problem, res.message);

	/* A string that claims more bytes than there are is truncated. */
	put_housing_required(&w);
	put_varint(&w, 6 << 3 | 2);
	put_varint(&w, 50);
	memcpy(w.b + w.n, "section", 7);
	w.n += 7;
	refused(&w, PBCHECK_MALFORMED, "noticeType");
}

Test(form, wrong_wire_type_names_the_field)
{
	struct wbuf w = {0}, m = {0};

	put_uint(&w, 1, 1);
	put_string(&w, 2, "lodger"); /* tenure is an enum: a varint */
	refused(&w, PBCHECK_WRONG_TYPE, "tenure");

	memset(&w, 0, sizeof(w));
	put_housing_required(&w);
	put_string(&m, 1, "child");
	put_string(&m, 2, "four"); /* age is a uint32 */
	put_bytes(&w, 4, m.b, m.n);
	refused(&w, PBCHECK_WRONG_TYPE, "householdMembers[0].age");

	memset(&w, 0, sizeof(w));
	put_housing_required(&w);
	put_uint(&w, 4, 7); /* household_members is a message */
	refused(&w, PBCHECK_WRONG_TYPE, "householdMembers[0]");
}

Test(form, unknown_fields_are_skipped)
{
	struct pbcheck_result res;
	struct wbuf w = {0};

	put_housing_required(&w);
	put_uint(&w, 99, 1);
	put_string(&w, 100, "from a newer version of the form");
	cr_assert_eq(form_check(housing(), w.b, w.n, &res), 0);
	cr_assert_eq(pbcheck_explain(housing()->desc, w.b, w.n, &res), PBCHECK_OK);

	/* ...but do not hide a real problem after them. */
	memset(&w, 0, sizeof(w));
	put_uint(&w, 99, 1);
	put_uint(&w, 1, 1);
	refused(&w, PBCHECK_MISSING_REQUIRED, "tenure");
}

Test(form, packed_and_unpacked_repeated_numbers_are_both_valid)
{
	const struct form *f = form_find("debt_advice");
	struct pbcheck_result res;
	struct wbuf w = {0}, packed = {0};

	put_uint(&w, 2, 1200); /* approximate_total_pounds */
	put_uint(&w, 6, 1);    /* enforcement_action */
	put_uint(&w, 1, REFEX__FORMS__DEBT_ADVICE__DEBT_TYPE__RENT_ARREARS);
	put_varint(&packed, REFEX__FORMS__DEBT_ADVICE__DEBT_TYPE__CREDIT_CARD);
	put_varint(&packed, REFEX__FORMS__DEBT_ADVICE__DEBT_TYPE__PAYDAY_LOAN);
	put_bytes(&w, 1, packed.b, packed.n);
	cr_assert_eq(form_check(f, w.b, w.n, &res), 0);
	cr_assert_eq(pbcheck_explain(f->desc, w.b, w.n, &res), PBCHECK_OK, "%s: %s", res.path,
	             res.message);

	/* A packed run that ends mid-varint is not. */
	memset(&w, 0, sizeof(w));
	put_uint(&w, 2, 1200);
	put_uint(&w, 6, 1);
	put_bytes(&w, 4, "\x03\x83", 2);
	cr_assert_eq(form_check(f, w.b, w.n, &res), -1);
	cr_assert_eq(res.problem, PBCHECK_MALFORMED);
	cr_assert_str_eq(res.path, "incomeSources");
}

Test(form, unknown_form_is_refused)
{
	struct pbcheck_result res;

	cr_assert_eq(form_check(NULL, (const uint8_t *)"", 0, &res), -1);
	cr_assert_neq(res.problem, PBCHECK_OK);
}

/*
 * None of our schemas nests into itself, so the depth limit is tested with a
 * self-recursive message defined here: message Node { optional Node child = 1; }
 */
typedef struct Node {
	ProtobufCMessage base;
	struct Node *child;
} Node;

static const ProtobufCMessageDescriptor node_desc;

static const ProtobufCFieldDescriptor node_fields[1] = {
    {"child", 1, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_MESSAGE, 0, offsetof(Node, child),
     &node_desc, NULL, 0, 0, NULL, NULL},
};
static const unsigned node_by_name[1] = {0};
static const ProtobufCIntRange node_ranges[2] = {{1, 0}, {0, 1}};

static void node_init(Node *n)
{
	memset(n, 0, sizeof(*n));
	n->base.descriptor = &node_desc;
}

static const ProtobufCMessageDescriptor node_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "test.Node",
    "Node",
    "Test__Node",
    "test",
    sizeof(Node),
    1,
    node_fields,
    node_by_name,
    1,
    node_ranges,
    (ProtobufCMessageInit)node_init,
    NULL,
    NULL,
    NULL,
};

/* Write levels nested Nodes (the outermost included) into w, inside out. */
static void put_nodes(struct wbuf *w, int levels)
{
	struct wbuf inner;
	int i;

	w->n = 0;
	for (i = 1; i < levels; i++) {
		inner = *w;
		w->n = 0;
		put_bytes(w, 1, inner.b, inner.n);
	}
}

Test(pbcheck, nesting_limit)
{
	struct pbcheck_result res;
	struct wbuf w = {0};
	char want[256] = "";
	int i;

	put_nodes(&w, PBCHECK_MAX_DEPTH);
	cr_assert_eq(pbcheck_explain(&node_desc, w.b, w.n, &res), PBCHECK_OK, "%s", res.message);

	put_nodes(&w, PBCHECK_MAX_DEPTH + 1);
	cr_assert_eq(pbcheck_explain(&node_desc, w.b, w.n, &res), PBCHECK_TOO_DEEP);
	/* The path names the child that went one level too far. */
	for (i = 0; i < PBCHECK_MAX_DEPTH; i++)
		strcat(want, i ? ".child" : "child");
	cr_assert_str_eq(res.path, want);
}

Test(pbcheck, truncated_key_and_bad_wire_types)
{
	struct pbcheck_result res;
	const ProtobufCMessageDescriptor *d = &refex__forms__housing_support__descriptor;

	cr_assert_eq(pbcheck_explain(d, (const uint8_t *)"\x80", 1, &res), PBCHECK_MALFORMED);
	/* Field 1, wire type 7 does not exist; groups (3, 4) are not supported. */
	cr_assert_eq(pbcheck_explain(d, (const uint8_t *)"\x0f", 1, &res), PBCHECK_MALFORMED);
	cr_assert_eq(pbcheck_explain(d, (const uint8_t *)"\x0b", 1, &res), PBCHECK_MALFORMED);
	/* Field number 0 is never valid. */
	cr_assert_eq(pbcheck_explain(d, (const uint8_t *)"\x00\x01", 2, &res), PBCHECK_MALFORMED);
	/* A 32-bit value cut short. */
	cr_assert_eq(pbcheck_explain(d, (const uint8_t *)"\x0d\x01\x02", 3, &res),
	             PBCHECK_MALFORMED);
	cr_assert_str_eq(res.path, "currentSituation");
}

Test(form, enum_numbers_the_form_does_not_define_are_refused)
{
	const struct form *debt = form_find("debt_advice");
	struct pbcheck_result res;
	struct wbuf w = {0}, packed = {0}, nested = {0};

	/* A required enum of 99: protobuf-c decodes it, the receiver's tools would not. */
	put_uint(&w, 1, REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING);
	put_uint(&w, 2, 99);
	refused(&w, PBCHECK_BAD_ENUM, "tenure");

	/* In a packed repeated enum, and in an enum of a repeated nested message. */
	memset(&w, 0, sizeof(w));
	put_uint(&w, 2, 1200);
	put_uint(&w, 6, 1);
	put_varint(&packed, REFEX__FORMS__DEBT_ADVICE__DEBT_TYPE__CREDIT_CARD);
	put_varint(&packed, 99);
	put_bytes(&w, 1, packed.b, packed.n);
	cr_assert_eq(form_check(debt, w.b, w.n, &res), -1);
	cr_assert_eq(res.problem, PBCHECK_BAD_ENUM, "%s: %s", res.path, res.message);
	cr_assert_str_eq(res.path, "debtTypes[1]");
	cr_assert(strstr(res.message, "99") != NULL, "%s", res.message);

	memset(&w, 0, sizeof(w));
	put_uint(&w, 2, 1200);
	put_uint(&w, 6, 1);
	put_uint(&nested, 1, REFEX__FORMS__DEBT_ADVICE__DEBT_TYPE__HMRC);
	put_bytes(&w, 3, nested.b, nested.n);
	cr_assert_eq(form_check(debt, w.b, w.n, &res), 0, "%s: %s", res.path, res.message);
	memset(&nested, 0, sizeof(nested));
	put_uint(&nested, 1, 16);
	put_bytes(&w, 3, nested.b, nested.n);
	cr_assert_eq(form_check(debt, w.b, w.n, &res), -1);
	cr_assert_eq(res.problem, PBCHECK_BAD_ENUM);
	cr_assert_str_eq(res.path, "priorityDebts[1].type");
}

Test(pbcheck, enums_are_checked_at_every_depth_of_a_request)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	Refex__ClientRecord client = REFEX__CLIENT_RECORD__INIT;
	Refex__Consent consent = REFEX__CONSENT__INIT;
	Refex__ListReferrals list = REFEX__LIST_REFERRALS__INIT;
	struct pbcheck_result res;

	req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	req.submit = &sub;
	sub.client = &client;
	sub.consent = &consent;
	consent.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	client.has_preferred_contact = 1;
	client.preferred_contact = REFEX__CONTACT_METHOD__CONTACT_EMAIL;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_OK, "%s: %s", res.path, res.message);

	/* A required enum of a nested message. */
	consent.method = 99;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_BAD_ENUM);
	cr_assert_str_eq(res.path, "submit.consent.method");
	cr_assert(strstr(res.message, "99") && strstr(res.message, "ConsentMethod"), "%s",
	          res.message);
	consent.method = REFEX__CONSENT_METHOD__CONSENT_WRITTEN;

	/* An optional one, only when it is set. */
	client.preferred_contact = 99;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_BAD_ENUM);
	cr_assert_str_eq(res.path, "submit.client.preferredContact");
	client.has_preferred_contact = 0;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_OK, "%s", res.path);

	/* In another member of the oneof. */
	req.body_case = REFEX__REQUEST__BODY_LIST_INBOX;
	req.list_inbox = &list;
	list.has_state = 1;
	list.state = 99;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_BAD_ENUM);
	cr_assert_str_eq(res.path, "listInbox.state");
	list.state = -1;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_BAD_ENUM);
	list.state = REFEX__STATE__STATE_ACCEPTED;
	cr_assert_eq(pbcheck_enums(&req.base, &res), PBCHECK_OK, "%s", res.path);
}
