/* Form answers as JSON at the HTTPS door: packed with, and read by, the kept form schemas. */
#include "web_forms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form_versions.h"
#include "pbjson.h"
#include "rules.h"
#include "schema.h"

/* The kept version of the form body names: formVersion (a number or a numeric string), else the
 * newest. NULL when body names none or the hub keeps no such version. */
static const struct form_kept *web_forms_of(const struct hub *hub, const json_t *body)
{
	const char *name = json_string_value(json_object_get(body, "form"));
	const json_t *v = json_object_get(body, "formVersion");
	char *end = NULL;
	unsigned long n = 0;

	if (name == NULL) {
		return NULL;
	}
	if (v == NULL) {
		return form_versions_newest(hub->kept, name);
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= (json_int_t)UINT32_MAX) {
		n = (unsigned long)json_integer_value(v);
	} else if (json_is_string(v)) {
		n = strtoul(json_string_value(v), &end, 10);
		if (*end != '\0' || n > UINT32_MAX) {
			return NULL;
		}
	} else {
		return NULL;
	}
	return form_versions_find(hub->kept, name, (uint32_t)n);
}

/* The base64 text of data as protobuf's JSON mapping writes bytes (new reference, or NULL). */
static json_t *web_forms_base64(uint8_t *data, size_t len)
{
	Refex__SubmitReferral carrier = REFEX__SUBMIT_REFERRAL__INIT;
	json_t *json, *text;

	carrier.has_form_data = 1;
	carrier.form_data.data = data;
	carrier.form_data.len = len;
	if ((json = pbjson_encode(&carrier.base)) == NULL) {
		return NULL;
	}
	text = json_incref(json_object_get(json, "formData"));
	json_decref(json);
	return text != NULL ? text : json_string(""); /* no answers: no bytes */
}

/* Pack a formData object in body with its form's schema. */
int web_forms_pack(const struct hub *hub, json_t *body, bool partial, char *field, size_t fieldlen,
                   char *message, size_t messagelen)
{
	json_t *answers = json_object_get(body, "formData"), *text = NULL;
	const struct form_kept *k;
	struct pbjson_error err = {0};
	ProtobufCMessage *m;
	uint8_t *packed = NULL;
	size_t len;

	if (!json_is_object(answers)) {
		return 0; /* base64, or absent: as the wire takes it */
	}
	if ((k = web_forms_of(hub, body)) == NULL) {
		snprintf(field, fieldlen, "%s",
		         json_object_get(body, "formVersion") ? "formVersion" : "form");
		snprintf(message, messagelen, "%s: no such form (version) to read formData with",
		         field);
		return -1;
	}
	m = partial ? pbjson_decode_partial(k->form.desc, answers, &err)
	            : pbjson_decode(k->form.desc, answers, &err);
	if (m == NULL) {
		snprintf(field, fieldlen, "formData%s%s", err.path[0] ? "." : "", err.path);
		snprintf(message, messagelen, "%s: %s", field, err.message);
		return -1;
	}
	len = protobuf_c_message_get_packed_size(m);
	if ((packed = malloc(len ? len : 1)) != NULL) {
		protobuf_c_message_pack(m, packed);
		text = web_forms_base64(packed, len);
	}
	free(packed);
	protobuf_c_message_free_unpacked(m, NULL);
	if (text == NULL || json_object_set_new(body, "formData", text) < 0) {
		snprintf(field, fieldlen, "formData");
		snprintf(message, messagelen, "formData: out of memory");
		return -1;
	}
	return 0;
}

/* Add formAnswers beside r's formData in json. */
void web_forms_answers(const struct hub *hub, const Refex__Referral *r, json_t *json)
{
	const struct form_kept *k;
	ProtobufCMessage *m;

	if (json == NULL || r->form == NULL || !r->has_form_version || !r->has_form_data ||
	    (k = form_versions_find(hub->kept, r->form, r->form_version)) == NULL) {
		return;
	}
	m = protobuf_c_message_unpack(k->form.desc, NULL, r->form_data.len, r->form_data.data);
	if (m != NULL) {
		json_object_set_new(json, "formAnswers", pbjson_encode(m));
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

/* The rules r as JSON, as rules.proto spells them ({"date": {"notPast": true}, ...}). */
static json_t *web_forms_rules(const struct rules *r)
{
	json_t *j = json_object();

	if (r->kinds & RULES_DATE)
		json_object_set_new(
		    j, "date",
		    json_pack("{s:b, s:b}", "notPast", r->not_past, "notFuture", r->not_future));
	if (r->kinds & RULES_TEXT)
		json_object_set_new(j, "text",
		                    json_pack("{s:I, s:b}", "maxLength", (json_int_t)r->max_length,
		                              "nonBlank", r->non_blank));
	if (r->kinds & RULES_NUMBER) {
		json_t *n = json_object();

		if (r->has_min)
			json_object_set_new(n, "min", json_integer((json_int_t)r->min));
		if (r->has_max)
			json_object_set_new(n, "max", json_integer((json_int_t)r->max));
		json_object_set_new(j, "number", n);
	}
	if (r->kinds & RULES_ENUM)
		json_object_set_new(j, "enum",
		                    json_pack("{s:b}", "zeroIsNoAnswer", r->zero_is_no_answer));
	if (r->kinds & RULES_CHOOSE)
		json_object_set_new(j, "choose",
		                    json_pack("{s:I}", "atLeast", (json_int_t)r->at_least));
	return j;
}

/* An enum's values as [{"name": ..., "number": ...}], in declaration order. */
static json_t *web_forms_choices(const ProtobufCEnumDescriptor *e)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < e->n_values; i++)
		json_array_append_new(a, json_pack("{s:s, s:i}", "name", e->values[i].name,
		                                   "number", e->values[i].value));
	return a;
}

static json_t *web_forms_fields(const struct schema *s, const ProtobufCMessageDescriptor *desc);

/* One field of desc as JSON: names, label, help, kind, cardinality, choices, rules, fields. */
static json_t *web_forms_field(const struct schema *s, const ProtobufCMessageDescriptor *desc,
                               const ProtobufCFieldDescriptor *f)
{
	const struct schema_field *info = schema_field(s, desc, f);
	char json_name[PBJSON_NAME_CAP];
	json_t *j;

	pbjson_json_name(f->name, json_name);
	j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "name", f->name, "jsonName", json_name,
	              "label", info ? info->label : f->name, "type",
	              f->type == PROTOBUF_C_TYPE_ENUM      ? "enum"
	              : f->type == PROTOBUF_C_TYPE_MESSAGE ? "message"
	                                                   : pbjson_type_name(f->type),
	              "required", f->label == PROTOBUF_C_LABEL_REQUIRED, "repeated",
	              f->label == PROTOBUF_C_LABEL_REPEATED);
	if (j == NULL)
		return NULL;
	if (info && info->help)
		json_object_set_new(j, "help", json_string(info->help));
	if (f->type == PROTOBUF_C_TYPE_ENUM)
		json_object_set_new(j, "choices", web_forms_choices(f->descriptor));
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		json_object_set_new(j, "fields", web_forms_fields(s, f->descriptor));
	if (info && info->rules)
		json_object_set_new(j, "rules", web_forms_rules(info->rules));
	return j;
}

/* The fields of desc, in the order the form declares their numbers. */
static json_t *web_forms_fields(const struct schema *s, const ProtobufCMessageDescriptor *desc)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < desc->n_fields; i++)
		json_array_append_new(a, web_forms_field(s, desc, &desc->fields[i]));
	return a;
}

/* Describe a kept version of form name (version 0: the newest) as JSON for a page to render. */
json_t *web_forms_describe(const struct hub *hub, const char *name, uint32_t version)
{
	const struct form_kept *kv = version ? form_versions_find(hub->kept, name, version)
	                                     : form_versions_newest(hub->kept, name);
	json_t *j;

	if (kv == NULL)
		return NULL;
	j = json_pack("{s:s, s:I, s:s, s:b, s:o}", "form", kv->sf->name, "version",
	              (json_int_t)kv->sf->version, "title", kv->sf->title, "retired", kv->retired,
	              "fields", web_forms_fields(kv->schema, kv->sf->desc));
	if (j && kv->sf->help)
		json_object_set_new(j, "help", json_string(kv->sf->help));
	return j;
}
