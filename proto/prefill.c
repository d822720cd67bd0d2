/* Answers given once, reused (see prefill.h). */
#include "prefill.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"

/* Say whether a and b hold the same kind of value. */
static bool same_type(const ProtobufCFieldDescriptor *a, const ProtobufCFieldDescriptor *b)
{
	if (a->type != b->type ||
	    (a->label == PROTOBUF_C_LABEL_REPEATED) != (b->label == PROTOBUF_C_LABEL_REPEATED)) {
		return false;
	}
	if (a->type == PROTOBUF_C_TYPE_ENUM) {
		return strcmp(((const ProtobufCEnumDescriptor *)a->descriptor)->name,
		              ((const ProtobufCEnumDescriptor *)b->descriptor)->name) == 0;
	}
	if (a->type == PROTOBUF_C_TYPE_MESSAGE) {
		return strcmp(((const ProtobufCMessageDescriptor *)a->descriptor)->name,
		              ((const ProtobufCMessageDescriptor *)b->descriptor)->name) == 0;
	}
	return true;
}

/* The value src holds for a field like f, or NULL. */
static json_t *source_value(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *src,
                            json_t *src_json)
{
	const ProtobufCFieldDescriptor *g =
	    protobuf_c_message_descriptor_get_field_by_name(src->descriptor, f->name);
	char key[PBJSON_NAME_CAP];

	if (g == NULL || !same_type(f, g)) {
		return NULL;
	}
	pbjson_json_name(g->name, key);
	return json_object_get(src_json, key);
}

/* Fill target's missing fields from the sources. */
json_t *prefill(const ProtobufCMessageDescriptor *target, const json_t *given,
                const struct prefill_source *src, size_t n)
{
	json_t *out = given ? json_deep_copy(given) : json_object();
	json_t *encoded[16];
	size_t k = n < 16 ? n : 16;

	for (size_t i = 0; i < k; i++) {
		encoded[i] = pbjson_encode(src[i].msg);
	}
	for (unsigned i = 0; out != NULL && i < target->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &target->fields[i];
		char key[PBJSON_NAME_CAP];

		pbjson_json_name(f->name, key);
		if (json_object_get(out, key) != NULL || json_object_get(out, f->name) != NULL) {
			continue; /* the caller's answer wins */
		}
		for (size_t s = 0; s < k; s++) {
			json_t *v = encoded[s] ? source_value(f, src[s].msg, encoded[s]) : NULL;

			if (v != NULL) {
				json_object_set(out, key, v);
				break;
			}
		}
	}
	for (size_t i = 0; i < k; i++) {
		json_decref(encoded[i]);
	}
	return out;
}

static void missing_add(char *out, size_t outlen, size_t *used, const char *path)
{
	int w = snprintf(out + *used, outlen - *used, "%s%s", *used ? ", " : "", path);

	if (w > 0 && (size_t)w < outlen - *used) {
		*used += (size_t)w;
	}
}

static size_t missing_in(const ProtobufCMessageDescriptor *desc, const json_t *obj,
                         const char *prefix, char *out, size_t outlen, size_t *used, int depth)
{
	size_t count = 0;

	for (unsigned i = 0; depth < 8 && i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char key[PBJSON_NAME_CAP], path[300];
		const json_t *v;

		pbjson_json_name(f->name, key);
		v = json_object_get(obj, key) ? json_object_get(obj, key)
		                              : json_object_get(obj, f->name);
		snprintf(path, sizeof(path), "%s%s", prefix, key);
		if (v == NULL || json_is_null(v)) {
			if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
				missing_add(out, outlen, used, path);
				count++;
			}
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && json_is_object(v)) {
			strncat(path, ".", sizeof(path) - strlen(path) - 1);
			count += missing_in(f->descriptor, v, path, out, outlen, used, depth + 1);
		}
	}
	return count;
}

/* List target's required fields that answers lacks. */
size_t prefill_missing(const ProtobufCMessageDescriptor *target, const json_t *answers, char *out,
                       size_t outlen)
{
	size_t used = 0;

	if (outlen > 0) {
		out[0] = '\0';
	}
	return missing_in(target, answers, "", out, outlen, &used, 0);
}
