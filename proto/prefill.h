/*
 * Answers given once, reused: a form is filled in from what earlier forms and
 * the client record already say. A field of the target form takes the value of
 * a field with the same name and the same type (scalar type, repeated or not,
 * and for enums and messages the same protobuf type) in a source; answers the
 * caller gave win, then the sources in the order given. All in the canonical
 * JSON mapping (proto/pbjson.h).
 */
#ifndef REFEX_PREFILL_H
#define REFEX_PREFILL_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* What a form can be filled in from: a decoded message (an earlier form, a client record). */
struct prefill_source {
	const ProtobufCMessage *msg;
};

/* Return given (a JSON object of target's fields, may be NULL) with target's missing fields
 * filled from the sources; a new object (NULL when out of memory). */
json_t *prefill(const ProtobufCMessageDescriptor *target, const json_t *given,
                const struct prefill_source *src, size_t n);

/* Write target's required fields that answers lacks, comma-separated JSON names, to out;
 * return how many (0: none missing). Nested messages are checked when they are present. */
size_t prefill_missing(const ProtobufCMessageDescriptor *target, const json_t *answers, char *out,
                       size_t outlen);

#endif
