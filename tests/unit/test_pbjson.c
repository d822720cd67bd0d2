/* The JSON mapping: what a caseworker writes in JSON is what the hub receives. */
#include <criterion/criterion.h>
#include <string.h>

#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "pbjson.h"
#include "refex.pb-c.h"

#define HS_DESC (&refex__forms__housing_support__descriptor)

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	cr_assert_not_null(j, "test JSON does not parse: %s: %s", je.text, text);
	return j;
}

/* Decode text as desc, failing the test if it does not decode. */
static ProtobufCMessage *decode_ok(const ProtobufCMessageDescriptor *desc, const char *text)
{
	struct pbjson_error err;
	json_t *j = parse(text);
	ProtobufCMessage *msg = pbjson_decode(desc, j, &err);

	json_decref(j);
	cr_assert_not_null(msg, "decode failed at '%s': %s", err.path, err.message);
	return msg;
}

/* Decode text as desc, expecting it to fail at path with a message containing why. */
static void decode_fails(const ProtobufCMessageDescriptor *desc, const char *text, const char *path,
                         const char *why)
{
	struct pbjson_error err;
	json_t *j = parse(text);
	ProtobufCMessage *msg = pbjson_decode(desc, j, &err);

	json_decref(j);
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
	cr_assert_null(msg, "decoded, but should fail at %s", path);
	cr_assert_str_eq(err.path, path, "message was: %s", err.message);
	cr_assert_not_null(strstr(err.message, why), "'%s' lacks '%s'", err.message, why);
}

/* Check that msg renders as the JSON in want (key order aside). */
static void encodes_as(const ProtobufCMessage *msg, const char *want)
{
	json_t *got = pbjson_encode(msg), *exp = parse(want);
	char *s = got ? json_dumps(got, JSON_SORT_KEYS) : NULL;

	cr_assert_not_null(got);
	cr_assert(json_equal(got, exp), "got %s", s);
	free(s);
	json_decref(got);
	json_decref(exp);
}

/* Pack msg and unpack it again: the JSON decoder's output must be real protobuf. */
static ProtobufCMessage *through_wire(const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *back;

	cr_assert_not_null(buf);
	protobuf_c_message_pack(msg, buf);
	back = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
	free(buf);
	cr_assert_not_null(back, "packed message does not unpack");
	return back;
}

/* JSON -> message -> wire -> message -> JSON gives want. */
static void round_trip(const ProtobufCMessageDescriptor *desc, const char *in, const char *want)
{
	ProtobufCMessage *msg = decode_ok(desc, in), *back = through_wire(msg);

	encodes_as(msg, want);
	encodes_as(back, want);
	protobuf_c_message_free_unpacked(msg, NULL);
	protobuf_c_message_free_unpacked(back, NULL);
}

static const char *client_json =
    "{\"givenName\": \"Ada\", \"familyName\": \"Lovelace\","
    " \"address\": {\"line1\": \"1 High St\", \"postcode\": \"AB1 2CD\"},"
    " \"preferredContact\": \"CONTACT_EMAIL\","
    " \"interpreterNeeded\": false,"
    " \"accessNeeds\": [\"step-free access\", \"hearing loop\"]}";

Test(pbjson, client_record_round_trip)
{
	Refex__ClientRecord *c =
	    (Refex__ClientRecord *)decode_ok(&refex__client_record__descriptor, client_json);

	cr_assert_str_eq(c->given_name, "Ada");
	cr_assert_str_eq(c->address->postcode, "AB1 2CD");
	cr_assert_null(c->address->town);
	cr_assert(c->has_preferred_contact);
	cr_assert_eq(c->preferred_contact, REFEX__CONTACT_METHOD__CONTACT_EMAIL);
	cr_assert(c->has_interpreter_needed);
	cr_assert_not(c->interpreter_needed);
	cr_assert_not(c->has_safe_to_send_post);
	cr_assert_null(c->pronouns);
	cr_assert_eq(c->n_access_needs, 2);
	cr_assert_str_eq(c->access_needs[1], "hearing loop");
	protobuf_c_message_free_unpacked(&c->base, NULL);

	/* Unset fields stay out; the explicit false stays in. */
	round_trip(&refex__client_record__descriptor, client_json, client_json);
}

static const char *housing_json =
    "{\"currentSituation\": \"AT_RISK_OF_EVICTION\", \"tenure\": \"PRIVATE_RENTED\","
    " \"householdMembers\": [{\"relationship\": \"partner\", \"age\": 34},"
    "                        {\"relationship\": \"child\", \"age\": 4, \"dependent\": true}],"
    " \"noticeReceived\": true, \"noticeType\": \"section 21\", \"bedroomsNeeded\": 2}";

Test(pbjson, housing_support_round_trip)
{
	Refex__Forms__HousingSupport *h =
	    (Refex__Forms__HousingSupport *)decode_ok(HS_DESC, housing_json);

	cr_assert_eq(h->current_situation,
	             REFEX__FORMS__HOUSING_SUPPORT__SITUATION__AT_RISK_OF_EVICTION);
	cr_assert_eq(h->tenure, REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED);
	cr_assert_eq(h->n_household_members, 2);
	cr_assert_str_eq(h->household_members[1]->relationship, "child");
	cr_assert(h->household_members[1]->has_age);
	cr_assert_eq(h->household_members[1]->age, 4);
	cr_assert_not(h->household_members[0]->has_dependent);
	cr_assert(h->has_bedrooms_needed);
	cr_assert_eq(h->bedrooms_needed, 2);
	protobuf_c_message_free_unpacked(&h->base, NULL);

	round_trip(HS_DESC, housing_json, housing_json);
}

Test(pbjson, snake_case_names_and_enum_numbers_accepted)
{
	round_trip(HS_DESC,
	           "{\"current_situation\": 1, \"tenure\": \"SOCIAL_RENTED\","
	           " \"household_members\": [{\"relationship\": \"self\"}],"
	           " \"bedrooms_needed\": \"3\", \"local_authority\": \"Leeds\"}",
	           "{\"currentSituation\": \"ROUGH_SLEEPING\", \"tenure\": \"SOCIAL_RENTED\","
	           " \"householdMembers\": [{\"relationship\": \"self\"}],"
	           " \"bedroomsNeeded\": 3, \"localAuthority\": \"Leeds\"}");
}

Test(pbjson, null_is_absent)
{
	round_trip(HS_DESC,
	           "{\"currentSituation\": 1, \"tenure\": 1, \"noticeType\": null,"
	           " \"householdMembers\": []}",
	           "{\"currentSituation\": \"ROUGH_SLEEPING\", \"tenure\": \"PRIVATE_RENTED\"}");
	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenure\": null}", "tenure",
	             "missing required field");
}

Test(pbjson, request_oneof_round_trip)
{
	const char *in =
	    "{\"id\": \"42\", \"submit\": {\"to\": \"food-bank\","
	    " \"form\": \"food_support\", \"formVersion\": 1, \"formData\": \"CAEQAg==\","
	    " \"client\": {\"givenName\": \"Ada\", \"familyName\": \"L\"}}}";
	Refex__Request *r = (Refex__Request *)decode_ok(&refex__request__descriptor, in);

	cr_assert(r->has_id);
	cr_assert_eq(r->id, 42);
	cr_assert_eq(r->body_case, REFEX__REQUEST__BODY_SUBMIT);
	cr_assert_str_eq(r->submit->to, "food-bank");
	cr_assert(r->submit->has_form_data);
	cr_assert_eq(r->submit->form_data.len, 4);
	cr_assert_str_eq(r->submit->client->given_name, "Ada");
	protobuf_c_message_free_unpacked(&r->base, NULL);

	round_trip(&refex__request__descriptor, in, in);
	/* An empty message is still a member of the oneof. */
	round_trip(&refex__request__descriptor, "{\"listForms\": {}}", "{\"listForms\": {}}");
}

Test(pbjson, two_oneof_members_rejected)
{
	decode_fails(&refex__request__descriptor, "{\"hello\": {}, \"list_forms\": {}}",
	             "list_forms", "only one of hello and listForms");
}

Test(pbjson, int64_as_string)
{
	Refex__Referral *r = (Refex__Referral *)decode_ok(
	    &refex__referral__descriptor,
	    "{\"createdAt\": \"1700000000\", \"updatedAt\": -5, \"state\": \"STATE_SENT\"}");

	cr_assert(r->has_created_at);
	cr_assert_eq(r->created_at, 1700000000);
	cr_assert_eq(r->updated_at, -5);
	encodes_as(&r->base, "{\"createdAt\": \"1700000000\", \"updatedAt\": \"-5\","
	                     " \"state\": \"STATE_SENT\"}");
	protobuf_c_message_free_unpacked(&r->base, NULL);

	round_trip(&refex__request__descriptor, "{\"id\": \"18446744073709551615\"}",
	           "{\"id\": \"18446744073709551615\"}");
	round_trip(&refex__referral__descriptor, "{\"createdAt\": \"-9223372036854775808\"}",
	           "{\"createdAt\": \"-9223372036854775808\"}");
	decode_fails(&refex__request__descriptor, "{\"id\": \"-1\"}", "id", "out of range");
	decode_fails(&refex__request__descriptor, "{\"id\": \"18446744073709551616\"}", "id",
	             "out of range");
	decode_fails(&refex__referral__descriptor, "{\"createdAt\": \"soon\"}", "createdAt",
	             "type mismatch");
}

Test(pbjson, bytes_as_base64)
{
	static const char *b64[] = {"", "AA==", "AAE=", "AAEC", "AAECAw=="};
	const uint8_t raw[] = {0, 1, 2, 3};
	size_t len;

	for (len = 0; len <= 4; len++) {
		Refex__SubmitReferral s = REFEX__SUBMIT_REFERRAL__INIT, *back;
		char want[64];
		json_t *j;

		s.has_form_data = 1;
		s.form_data.len = len;
		s.form_data.data = (uint8_t *)raw;
		snprintf(want, sizeof(want), "{\"formData\": \"%s\"}", b64[len]);
		encodes_as(&s.base, want);

		j = pbjson_encode(&s.base);
		back = (Refex__SubmitReferral *)pbjson_decode(&refex__submit_referral__descriptor,
		                                              j, NULL);
		json_decref(j);
		cr_assert_not_null(back);
		cr_assert(back->has_form_data);
		cr_assert_eq(back->form_data.len, len, "length %zu came back as %zu", len,
		             back->form_data.len);
		cr_assert(len == 0 || memcmp(back->form_data.data, raw, len) == 0);
		protobuf_c_message_free_unpacked(&back->base, NULL);
	}
}

Test(pbjson, base64_variants_and_errors)
{
	Refex__SubmitReferral *s = (Refex__SubmitReferral *)decode_ok(
	    &refex__submit_referral__descriptor, "{\"formData\": \"-_8\"}");

	/* URL-safe and unpadded, as the canonical mapping allows. */
	cr_assert_eq(s->form_data.len, 2);
	cr_assert_eq(s->form_data.data[0], 0xfb);
	cr_assert_eq(s->form_data.data[1], 0xff);
	protobuf_c_message_free_unpacked(&s->base, NULL);

	decode_fails(&refex__submit_referral__descriptor, "{\"formData\": \"A\"}", "formData",
	             "invalid base64");
	decode_fails(&refex__submit_referral__descriptor, "{\"formData\": \"AA*=\"}", "formData",
	             "invalid base64");
	decode_fails(&refex__submit_referral__descriptor, "{\"formData\": \"AA=A\"}", "formData",
	             "invalid base64");
	decode_fails(&refex__submit_referral__descriptor, "{\"formData\": \"AAA==\"}", "formData",
	             "invalid base64");
	decode_fails(&refex__submit_referral__descriptor, "{\"formData\": 12}", "formData",
	             "type mismatch");
}

Test(pbjson, unknown_field_named_with_path)
{
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"householdMembers\":"
	             " [{\"relationship\": \"a\"}, {\"relationship\": \"b\", \"shoeSize\": 9}]}",
	             "householdMembers[1].shoeSize", "unknown field");
	/* A misspelt required field is reported as unknown, not as missing. */
	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenrue\": 1}", "tenrue",
	             "unknown field");
}

Test(pbjson, missing_required_at_every_depth)
{
	decode_fails(HS_DESC, "{\"currentSituation\": 1}", "tenure", "missing required field");
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"householdMembers\":"
	             " [{\"relationship\": \"a\"}, {\"age\": 3}]}",
	             "householdMembers[1].relationship", "missing required field");
	decode_fails(&refex__request__descriptor,
	             "{\"submit\": {\"client\": {\"givenName\": \"Ada\"}}}",
	             "submit.client.familyName", "missing required field");
}

Test(pbjson, errors_name_the_field_as_the_json_wrote_it)
{
	/* The template writes lowerCamelCase; a file written with the proto names is answered in
	 * its own words, and a field it lacks by the name the template gives it. */
	decode_fails(HS_DESC,
	             "{\"current_situation\": 1, \"tenure\": 1, \"bedrooms_needed\": \"two\"}",
	             "bedrooms_needed", "type mismatch");
	decode_fails(HS_DESC,
	             "{\"current_situation\": 1, \"tenure\": 1, \"household_members\": [{}]}",
	             "household_members[0].relationship", "missing required field");
	decode_fails(HS_DESC, "{\"tenure\": 1}", "currentSituation", "missing required field");
}

Test(pbjson, type_mismatches)
{
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"bedroomsNeeded\": \"two\"}",
	             "bedroomsNeeded", "type mismatch");
	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenure\": 1, \"bedroomsNeeded\": 1.5}",
	             "bedroomsNeeded", "type mismatch");
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"noticeReceived\": \"yes\"}",
	             "noticeReceived", "type mismatch");
	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenure\": 1, \"noticeType\": 21}",
	             "noticeType", "type mismatch");
	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenure\": 1, \"householdMembers\": {}}",
	             "householdMembers", "type mismatch");
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"householdMembers\": [\"me\"]}",
	             "householdMembers[0]", "type mismatch");
	decode_fails(HS_DESC, "{\"currentSituation\": true, \"tenure\": 1}", "currentSituation",
	             "type mismatch");
	decode_fails(HS_DESC, "[1, 2]", "", "type mismatch");
}

Test(pbjson, no_json_at_all)
{
	struct pbjson_error err;

	cr_assert_null(pbjson_decode(HS_DESC, NULL, &err));
	cr_assert_str_eq(err.path, "");
	cr_assert_not_null(strstr(err.message, "expected an object"));
}

Test(pbjson, out_of_range)
{
	ProtobufCMessage *m;

	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenure\": 1, \"bedroomsNeeded\": -1}",
	             "bedroomsNeeded", "out of range");
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"bedroomsNeeded\": 4294967296}",
	             "bedroomsNeeded", "out of range");
	m = decode_ok(HS_DESC,
	              "{\"currentSituation\": 1, \"tenure\": 1, \"bedroomsNeeded\": 4294967295}");
	cr_assert_eq(((Refex__Forms__HousingSupport *)m)->bedrooms_needed, UINT32_MAX);
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(pbjson, unknown_enum)
{
	decode_fails(HS_DESC, "{\"currentSituation\": 1, \"tenure\": \"CASTLE\"}", "tenure",
	             "unknown enum name \"CASTLE\"");
	decode_fails(HS_DESC, "{\"currentSituation\": 99, \"tenure\": 1}", "currentSituation",
	             "unknown enum number 99");
}

Test(pbjson, field_given_under_both_names)
{
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1, \"bedroomsNeeded\": 1,"
	             " \"bedrooms_needed\": 2}",
	             "bedroomsNeeded", "given twice");
}

Test(pbjson, placeholders_left_in)
{
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1,"
	             " \"noticeType\": \"<optional string>\"}",
	             "noticeType", "placeholder left in: fill in or remove the field");
	decode_fails(HS_DESC,
	             "{\"currentSituation\": 1, \"tenure\": 1,"
	             " \"householdMembers\": [{\"relationship\": \"a\","
	             " \"age\": \"<optional uint32>\"}]}",
	             "householdMembers[0].age", "placeholder left in");
}

Test(pbjson, template_of_housing_support)
{
	json_t *t = pbjson_template(HS_DESC), *members, *m;
	struct pbjson_error err;
	ProtobufCMessage *msg;

	cr_assert_not_null(t);
	cr_assert_str_eq(json_string_value(json_object_get(t, "tenure")),
	                 "<required one of: TENURE_UNSPECIFIED|PRIVATE_RENTED|SOCIAL_RENTED|"
	                 "OWNER_OCCUPIER|LODGER|LIVING_WITH_FAMILY_OR_FRIENDS|NO_FIXED_ABODE|"
	                 "SUPPORTED_HOUSING|OTHER_TENURE>");
	cr_assert_str_eq(json_string_value(json_object_get(t, "dateAtRisk")), "<optional string>");
	cr_assert_str_eq(json_string_value(json_object_get(t, "noticeReceived")),
	                 "<optional bool>");
	members = json_object_get(t, "householdMembers");
	cr_assert(json_is_array(members));
	cr_assert_eq(json_array_size(members), 1);
	m = json_array_get(members, 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "relationship")),
	                 "<required string>");
	cr_assert_str_eq(json_string_value(json_object_get(m, "age")), "<optional uint32>");
	cr_assert_eq(json_object_size(t), HS_DESC->n_fields);

	/* As generated it does not decode: the first placeholder is named. */
	msg = pbjson_decode(HS_DESC, t, &err);
	cr_assert_null(msg);
	cr_assert_str_eq(err.path, "currentSituation");
	cr_assert_str_eq(err.message, "placeholder left in: fill in or remove the field");

	/* Filled in and trimmed, it does. */
	json_object_set_new(t, "currentSituation", json_string("SOFA_SURFING"));
	json_object_set_new(t, "tenure", json_string("LODGER"));
	json_object_set_new(m, "relationship", json_string("child"));
	json_object_del(m, "age");
	json_object_del(m, "dependent");
	json_object_set_new(t, "bedroomsNeeded", json_integer(2));
	json_object_set_new(t, "pets", json_true());
	json_object_del(t, "dateAtRisk");
	json_object_del(t, "noticeReceived");
	json_object_del(t, "noticeType");
	json_object_del(t, "localAuthority");
	json_object_del(t, "localConnection");
	json_object_del(t, "supportNeeds");
	msg = pbjson_decode(HS_DESC, t, &err);
	cr_assert_not_null(msg, "%s: %s", err.path, err.message);
	encodes_as(msg, "{\"currentSituation\": \"SOFA_SURFING\", \"tenure\": \"LODGER\","
	                " \"householdMembers\": [{\"relationship\": \"child\"}],"
	                " \"bedroomsNeeded\": 2, \"pets\": true}");
	protobuf_c_message_free_unpacked(msg, NULL);
	json_decref(t);
}

Test(pbjson, template_of_request_expands_nested_messages)
{
	json_t *t = pbjson_template(&refex__request__descriptor), *submit;

	cr_assert_not_null(t);
	cr_assert_str_eq(json_string_value(json_object_get(t, "id")), "<optional uint64>");
	submit = json_object_get(t, "submit");
	cr_assert(json_is_object(submit));
	cr_assert_str_eq(json_string_value(json_object_get(submit, "formData")),
	                 "<optional bytes (base64)>");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(submit, "client"), "givenName")),
	    "<required string>");
	cr_assert(json_is_array(json_object_get(json_object_get(submit, "client"), "accessNeeds")));
	json_decref(t);
}

/* A descriptor built at run time (proto/schema.h) has no init function: decoding through one
 * starts from zeros and the descriptor's defaults, as protobuf-c's unpack does. */
Test(pbjson, descriptor_without_init_function)
{
	static const uint32_t seven = 7;
	ProtobufCFieldDescriptor fields[3];
	ProtobufCMessageDescriptor hs = *HS_DESC,
	                           member =
	                               refex__forms__housing_support__household_member__descriptor;
	Refex__Forms__HousingSupport__HouseholdMember *m;
	Refex__Forms__HousingSupport *h;

	hs.message_init = NULL;
	h = (Refex__Forms__HousingSupport *)decode_ok(&hs, housing_json);
	cr_assert_eq(h->base.descriptor, &hs);
	cr_assert_eq(h->tenure, REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED);
	cr_assert_eq(h->n_household_members, 2);
	cr_assert_null(h->local_authority);
	cr_assert_not(h->has_pets);
	protobuf_c_message_free_unpacked(&h->base, NULL);

	cr_assert_eq(member.n_fields, 3);
	memcpy(fields, member.fields, sizeof(fields));
	cr_assert_str_eq(fields[1].name, "age");
	fields[1].default_value = &seven;
	member.fields = fields;
	member.message_init = NULL;
	m = (Refex__Forms__HousingSupport__HouseholdMember *)decode_ok(
	    &member, "{\"relationship\": \"son\"}");
	cr_assert_str_eq(m->relationship, "son");
	cr_assert_not(m->has_age);
	cr_assert_eq(m->age, 7);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}
