/*
 * JSON <-> protobuf through protobuf-c descriptors and jansson, following
 * protobuf's canonical JSON mapping: lowerCamelCase names on output (the
 * original snake_case names accepted on input too), enums by name (numbers
 * accepted on input), 64-bit integers as strings, bytes as base64.
 */
#ifndef REFEX_PBJSON_H
#define REFEX_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Where and why a conversion failed. path is dotted field names as the JSON
 * gave them (JSON names for fields it lacks) with [i] for repeated elements,
 * e.g. "householdMembers[1].relationship"; empty for the top level. */
struct pbjson_error {
	char path[256];
	char message[256];
};

/*
 * Build a new message of type desc from a JSON object. Unknown fields, type
 * mismatches, out-of-range numbers, unknown enum names, bad base64, missing
 * required fields and unfilled template placeholders (strings beginning
 * "<required" or "<optional") are errors naming the field path.
 * Returns NULL on error, with err filled. Free the result with
 * protobuf_c_message_free_unpacked(msg, NULL).
 */
ProtobufCMessage *pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                struct pbjson_error *err);

#define PBJSON_NAME_CAP 128 /* bytes for a field's JSON name */

/* Write the canonical JSON name of field name (lowerCamelCase) to out (PBJSON_NAME_CAP bytes). */
void pbjson_json_name(const char *name, char *out);

/* Return the .proto name of type t ("uint32", "bytes"), "value" for one it does not know. */
const char *pbjson_type_name(ProtobufCType t);

/* Write path (dotted field names, [i] for elements: "client.date_of_birth") with each name as
 * its JSON name ("client.dateOfBirth") to out (cap bytes, cap > 0). */
void pbjson_json_path(const char *path, char *out, size_t cap);

/* Like pbjson_decode, but a missing required field is not an error: for answers that will be
 * completed elsewhere (an onward referral's form, filled in by the hub). */
ProtobufCMessage *pbjson_decode_partial(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                        struct pbjson_error *err);

/* Render a message as a new JSON object (canonical mapping; fields that are
 * not set are left out). */
json_t *pbjson_encode(const ProtobufCMessage *msg);

/*
 * A fill-in skeleton of desc: every field, with a placeholder string value
 * "<required TYPE>" or "<optional TYPE>" (TYPE is e.g. "string", "uint32",
 * "bool", "YYYY-MM-DD string" is not inferred; enums list their names:
 * "<required one of: A|B|C>"). Repeated fields are arrays of one element;
 * nested messages are expanded. Output uses lowerCamelCase names.
 */
json_t *pbjson_template(const ProtobufCMessageDescriptor *desc);

#endif
