/*
 * Explain why protobuf bytes do not decode as a message type: walk the wire
 * format against the descriptor and name the first problem (a field of the
 * wrong wire type, a truncated field, a missing required field, at any depth).
 * protobuf-c's own unpack only says yes or no. And check what it lets through
 * in a decoded message: enum numbers the schema does not define, values that
 * break their field's rules (rules.h).
 */
#ifndef REFEX_PBCHECK_H
#define REFEX_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

enum pbcheck_problem {
	PBCHECK_OK = 0,
	PBCHECK_MALFORMED,        /* not protobuf at all: bad varint, truncated, bad wire type */
	PBCHECK_WRONG_TYPE,       /* a known field with the wrong wire type */
	PBCHECK_MISSING_REQUIRED, /* a required field is absent */
	PBCHECK_TOO_DEEP,         /* nested deeper than PBCHECK_MAX_DEPTH */
	PBCHECK_TOO_COMPLEX,      /* decoding it would take more memory than allowed (pballoc.h) */
	PBCHECK_BAD_TEXT,         /* a string that is not UTF-8 or holds a NUL byte */
	PBCHECK_BAD_ENUM,         /* an enum field holding a number its enum does not define */
	PBCHECK_BROKEN_RULE,      /* a value that breaks its field's rule (rules.h) */
};

#define PBCHECK_MAX_DEPTH 16

struct pbcheck_result {
	enum pbcheck_problem problem;
	char path[256];    /* dotted path of JSON names (lowerCamelCase, as a caseworker writes
	                      them), [i] for repeated elements: "householdMembers[1].age" */
	char message[256]; /* for people: "missing required field", ... */
};

/* Walk data as a message of type desc and report the first problem found. */
enum pbcheck_problem pbcheck_explain(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
				     size_t len, struct pbcheck_result *res);

/*
 * Walk data (which protobuf-c decodes as desc) and report the first string field, at any
 * depth, that is not valid UTF-8 or holds a NUL byte. protobuf-c 1.4 checks neither for
 * proto2, and its C strings would silently end at the NUL.
 */
enum pbcheck_problem pbcheck_text(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
				  size_t len, struct pbcheck_result *res);

/*
 * Report the first enum field of a decoded message, at any depth (singular, repeated, oneof
 * and nested), that holds a number its enum does not define: protobuf-c 1.4 unpack keeps any
 * number, and a strict decoder at the other end would refuse the message.
 */
enum pbcheck_problem pbcheck_enums(const ProtobufCMessage *msg, struct pbcheck_result *res);

/* Like pbcheck_enums, and also report the first field, at any depth, whose values break the
 * rules lookup gives it (lookup(ctx, ...); dates judged by the UTC day of now): for form data
 * and client records. */
enum pbcheck_problem pbcheck_values(const ProtobufCMessage *msg, rules_lookup_fn lookup,
                                    const void *ctx, int64_t now, struct pbcheck_result *res);

#endif
