/* Reading the user's JSON files as protobuf messages. */
#include "input.h"

#include <jansson.h>
#include <stdio.h>

#include "pbjson.h"

/* Read the JSON file at path and decode it as desc (partial: required fields may be missing),
 * saying what is wrong on stderr. */
ProtobufCMessage *input_load_json(const char *path, const ProtobufCMessageDescriptor *desc,
                                  bool partial)
{
	struct pbjson_error perr = {0};
	ProtobufCMessage *msg;
	json_error_t jerr;
	json_t *json;

	if (!(json = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr))) {
		if (jerr.line > 0) {
			fprintf(stderr, "refex: %s:%d:%d: %s\n", path, jerr.line, jerr.column,
			        jerr.text);
		} else {
			fprintf(stderr, "refex: %s\n", jerr.text);
		}
		return NULL;
	}
	if (!json_is_object(json)) {
		fprintf(stderr, "refex: %s: expected a JSON object ({...})\n", path);
		json_decref(json);
		return NULL;
	}
	msg = partial ? pbjson_decode_partial(desc, json, &perr) : pbjson_decode(desc, json, &perr);
	json_decref(json);
	if (!msg) {
		if (perr.path[0]) {
			fprintf(stderr, "refex: %s: %s: %s\n", path, perr.path, perr.message);
		} else {
			fprintf(stderr, "refex: %s: %s\n", path, perr.message);
		}
	}
	return msg;
}

/* Read the JSON file at path and decode it as a whole desc, saying what is wrong on stderr. */
ProtobufCMessage *input_load_message(const char *path, const ProtobufCMessageDescriptor *desc)
{
	return input_load_json(path, desc, false);
}
