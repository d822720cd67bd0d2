/* Harness helpers for forms learnt from the hub. */
#include "harness_forms.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"

/* Ask the hub for the schema of form name. */
int raw_fetch_schema(struct raw *c, const char *name, uint32_t version, struct schema **out)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetFormSchema g = REFEX__GET_FORM_SCHEMA__INIT;
	Refex__ServerMessage *m;
	struct schema_error err;
	int code;

	g.form = (char *)name;
	g.has_version = version != 0;
	g.version = version;
	req.has_id = 1;
	req.id = 32;
	req.body_case = REFEX__REQUEST__BODY_GET_FORM_SCHEMA;
	req.get_form_schema = &g;
	cr_assert_not_null(m = raw_call(c, &req));
	code = m->response->status ? (int)m->response->status->code : -1;
	*out = NULL;
	if (code == REFEX__STATUS_CODE__STATUS_OK) {
		Refex__FormSchema *fs = m->response->form_schema;

		cr_assert_not_null(fs);
		cr_expect_str_eq(fs->form, name);
		*out = schema_load(fs->descriptor_set.data, fs->descriptor_set.len, &err);
		cr_assert_not_null(*out, "the hub's schema does not load: %s", err.message);
	}
	refex__server_message__free_unpacked(m, NULL);
	return code;
}

/* Pack json as form name of s into out. */
size_t form_pack_json(const struct schema *s, const char *name, const char *json, uint8_t *out)
{
	const struct schema_form *form = schema_form_find(s, name);
	struct pbjson_error err;
	ProtobufCMessage *msg;
	json_t *j = json_loads(json, 0, NULL);
	size_t len;

	cr_assert_not_null(form);
	cr_assert_not_null(msg = pbjson_decode(form->desc, j, &err), "%s: %s", err.path,
	                   err.message);
	cr_assert_leq(protobuf_c_message_get_packed_size(msg), 64);
	len = protobuf_c_message_pack(msg, out);
	protobuf_c_message_free_unpacked(msg, NULL);
	json_decref(j);
	return len;
}

/* Submit data on form to `to` for Dana Lee. */
int raw_submit_on(struct raw *c, const char *form, const char *to, const uint8_t *data, size_t len,
                  char id[REFEX_ID_LEN + 1], char msg[256])
{
	struct raw_submit s;
	Refex__ServerMessage *m;
	int code;

	raw_submit_init(&s, 41, "Dana");
	s.sub.form = (char *)form;
	s.sub.to = (char *)to;
	s.consent.to_agency = (char *)to;
	memcpy(s.data, data, len);
	s.sub.form_data.len = len;
	cr_assert_not_null(m = raw_call(c, &s.req));
	code = m->response->status ? (int)m->response->status->code : -1;
	if (id != NULL && code == REFEX__STATUS_CODE__STATUS_OK) {
		cr_assert_not_null(m->response->referral);
		snprintf(id, REFEX_ID_LEN + 1, "%s", m->response->referral->id);
	}
	if (msg != NULL) {
		snprintf(msg, 256, "%s",
		         m->response->status && m->response->status->message
		             ? m->response->status->message
		             : "");
	}
	refex__server_message__free_unpacked(m, NULL);
	return code;
}

/* Read referral id. */
Refex__Referral *raw_get_referral(struct raw *c, const char *id, Refex__ServerMessage **holder)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral g = REFEX__GET_REFERRAL__INIT;
	Refex__ServerMessage *m;

	g.id = (char *)id;
	req.has_id = 1;
	req.id = 34;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &g;
	cr_assert_not_null(m = raw_call(c, &req));
	*holder = m;
	if (m->response->status && m->response->status->code != REFEX__STATUS_CODE__STATUS_OK) {
		return NULL;
	}
	return m->response->referral;
}
