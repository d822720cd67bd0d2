/* Fuzz the agreed-forms loader (proto/schema.c): the input is a descriptor set, as protoc
 * writes it or as a hostile hub might send it. What loads must be a set of descriptors
 * protobuf-c can trust: indexes that find every field and value, members inside the message,
 * and messages that decode, encode and check (the input itself is tried as each form's data). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "fuzz_check.h"
#include "pballoc.h"
#include "pbjson.h"
#include "rules.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_enum(const ProtobufCEnumDescriptor *ed)
{
	unsigned i;

	FUZZ_CHECK(ed->magic == PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC);
	FUZZ_CHECK(ed->n_values > 0 && ed->n_values <= SCHEMA_MAX_ENUM_VALUES);
	for (i = 0; i < ed->n_values; i++) {
		FUZZ_CHECK(i == 0 || ed->values[i - 1].value < ed->values[i].value);
		FUZZ_CHECK(protobuf_c_enum_descriptor_get_value(ed, ed->values[i].value) ==
		           &ed->values[i]);
		FUZZ_CHECK(protobuf_c_enum_descriptor_get_value_by_name(ed, ed->values[i].name) ==
		           &ed->values[i]);
	}
}

static size_t member_size(const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return sizeof(void *);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	default:
		return 4;
	}
}

/* The members protobuf-c writes for f lie inside the message, after its header. */
static void check_member(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	size_t q =
	    f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(size_t) : sizeof(protobuf_c_boolean);

	FUZZ_CHECK(f->offset >= sizeof(ProtobufCMessage));
	FUZZ_CHECK(f->offset + member_size(f) <= d->sizeof_message);
	FUZZ_CHECK(f->quantifier_offset == 0 || (f->quantifier_offset >= sizeof(ProtobufCMessage) &&
	                                         f->quantifier_offset + q <= d->sizeof_message));
}

static void check_message(const struct schema *s, const ProtobufCMessageDescriptor *d,
                          unsigned depth)
{
	char why[200];
	unsigned i;

	FUZZ_CHECK(depth <= SCHEMA_MAX_DEPTH);
	FUZZ_CHECK(d->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC && !d->message_init);
	FUZZ_CHECK(d->n_fields <= SCHEMA_MAX_FIELDS);
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const struct schema_field *info = schema_field(s, d, f);

		FUZZ_CHECK(i == 0 || d->fields[i - 1].id < f->id);
		FUZZ_CHECK(protobuf_c_message_descriptor_get_field(d, f->id) == f);
		FUZZ_CHECK(protobuf_c_message_descriptor_get_field_by_name(d, f->name) == f);
		FUZZ_CHECK(info && info->label && strlen(info->label) <= SCHEMA_MAX_HELP);
		/* A rule that loaded fits its field. */
		FUZZ_CHECK(!info->rules || rules_fit(info->rules, f, why, sizeof(why)) == 0);
		check_member(d, f);
		if (f->type == PROTOBUF_C_TYPE_ENUM)
			check_enum(f->descriptor);
		else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			check_message(s, f->descriptor, depth + 1);
	}
}

/* Use the form as refexd would: the input as its data, decoded, encoded, checked. */
static void use_form(const struct schema *s, const struct schema_form *sf, const uint8_t *data,
                     size_t size)
{
	struct form f = {sf->name, sf->version, sf->title, sf->desc, s};
	struct pbcheck_result res;
	struct pbjson_error err;
	struct pballoc budget;
	ProtobufCMessage *msg, *back;
	uint8_t *out;
	json_t *j;

	pballoc_init(&budget, size);
	if ((msg = protobuf_c_message_unpack(sf->desc, &budget.allocator, size, data))) {
		if ((out = malloc(protobuf_c_message_get_packed_size(msg) + 1))) {
			protobuf_c_message_pack(msg, out);
			free(out);
		}
		if ((j = pbjson_encode(msg))) {
			if ((back = pbjson_decode(sf->desc, j, &err)))
				protobuf_c_message_free_unpacked(back, NULL);
			json_decref(j);
		}
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	FUZZ_CHECK(form_check(&f, data, size, &res) == 0 || res.problem != PBCHECK_OK);
	json_decref(pbjson_template(sf->desc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schema_error err;
	struct schema *s = schema_load(data, size, &err);
	size_t i;

	FUZZ_CHECK(strnlen(err.message, sizeof(err.message)) < sizeof(err.message));
	if (!s) {
		FUZZ_CHECK(err.message[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(schema_form_count(s) > 0);
	for (i = 0; i < schema_form_count(s); i++) {
		const struct schema_form *f = schema_form_at(s, i);

		FUZZ_CHECK(schema_form_find(s, f->name) == f);
		FUZZ_CHECK(f->version >= 1 && f->title && f->title[0]);
		check_message(s, f->desc, 1);
		use_form(s, f, data, size);
	}
	schema_free(s);
	return 0;
}
