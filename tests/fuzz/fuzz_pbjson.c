/* Fuzz the JSON mapping (proto/pbjson.c) both ways: JSON text -> message -> JSON -> message
 * must give the same message, and protobuf bytes -> JSON -> message -> JSON the same JSON. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "forms/debt_advice.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "fuzz_check.h"
#include "pballoc.h"
#include "pbjson.h"
#include "refex.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the CLI reads from files (records, consent, forms) and what it renders (the rest). */
static const ProtobufCMessageDescriptor *const descs[] = {
    &refex__client_record__descriptor,
    &refex__consent__descriptor,
    &refex__forms__housing_support__descriptor,
    &refex__forms__food_support__descriptor,
    &refex__forms__debt_advice__descriptor,
    &refex__referral__descriptor,
    &refex__request__descriptor,
    &refex__server_message__descriptor,
};
#define N_DESCS (sizeof(descs) / sizeof(descs[0]))

static void check_error(const struct pbjson_error *err)
{
	FUZZ_CHECK(strnlen(err->path, sizeof(err->path)) < sizeof(err->path));
	FUZZ_CHECK(strnlen(err->message, sizeof(err->message)) < sizeof(err->message));
	FUZZ_CHECK(err->message[0] != '\0');
}

/* Say whether a and b pack to the same bytes. */
static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a);
	size_t nb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	bool same;

	FUZZ_CHECK(pa != NULL && pb != NULL);
	same = na == nb && protobuf_c_message_pack(a, pa) == na &&
	       protobuf_c_message_pack(b, pb) == nb && memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return same;
}

/* JSON text -> message: what decodes must encode, and decode again to the same message. */
static void from_json(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
	struct pbjson_error err = {0};
	json_error_t jerr;
	json_t *json = json_loadb((const char *)data, size, 0, &jerr), *again;
	ProtobufCMessage *msg, *msg2;
	char *text;

	if (json == NULL) {
		return;
	}
	msg = pbjson_decode(desc, json, &err);
	json_decref(json);
	if (msg == NULL) {
		check_error(&err);
		return;
	}
	FUZZ_CHECK((json = pbjson_encode(msg)) != NULL);
	FUZZ_CHECK((text = json_dumps(json, JSON_COMPACT)) != NULL);
	FUZZ_CHECK((again = json_loads(text, 0, &jerr)) != NULL);
	FUZZ_CHECK(json_equal(json, again));
	msg2 = pbjson_decode(desc, again, &err);
	FUZZ_CHECK(msg2 != NULL);
	FUZZ_CHECK(same_message(msg, msg2));
	protobuf_c_message_free_unpacked(msg2, NULL);
	json_decref(again);
	free(text);
	json_decref(json);
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* Protobuf bytes -> JSON (what the CLI shows): what renders and decodes renders the same. Not
 * everything renders (a string that is not UTF-8) or decodes (an unknown enum number, a
 * string that looks like a template placeholder): those are refusals, not round trips. */
static void from_protobuf(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
	struct pbjson_error err = {0};
	struct pballoc budget;
	ProtobufCMessage *msg, *msg2;
	json_t *json, *json2;

	pballoc_init(&budget, size);
	if ((msg = protobuf_c_message_unpack(desc, &budget.allocator, size, data)) == NULL) {
		return;
	}
	if ((json = pbjson_encode(msg)) != NULL) {
		if ((msg2 = pbjson_decode(desc, json, &err)) != NULL) {
			FUZZ_CHECK((json2 = pbjson_encode(msg2)) != NULL);
			FUZZ_CHECK(json_equal(json, json2));
			json_decref(json2);
			protobuf_c_message_free_unpacked(msg2, NULL);
		} else {
			check_error(&err);
		}
		json_decref(json);
	}
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* The first byte picks the message type (low bits) and the direction (top bit). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool templated;
	const ProtobufCMessageDescriptor *desc;

	if (!templated) {
		/* Templates do not depend on input: once is enough. */
		for (size_t i = 0; i < N_DESCS; i++) {
			json_t *t = pbjson_template(descs[i]);

			FUZZ_CHECK(t != NULL);
			json_decref(t);
		}
		templated = true;
	}
	if (size < 1) {
		return 0;
	}
	desc = descs[(data[0] & 0x7f) % N_DESCS];
	if (data[0] & 0x80) {
		from_protobuf(desc, data + 1, size - 1);
	} else {
		from_json(desc, data + 1, size - 1);
	}
	return 0;
}
