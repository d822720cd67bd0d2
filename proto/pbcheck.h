/*
 * Explain why protobuf bytes do not decode as a message type: walk the wire
 * format against the descriptor and name the first problem (a field of the
 * wrong wire type, a truncated field, a missing required field, at any depth).
 * protobuf-c's own unpack only says yes or no.
 */
#ifndef REFEX_PBCHECK_H
#define REFEX_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

enum pbcheck_problem {
	PBCHECK_OK = 0,
	PBCHECK_MALFORMED,        /* not protobuf at all: bad varint, truncated, bad wire type */
	PBCHECK_WRONG_TYPE,       /* a known field with the wrong wire type */
	PBCHECK_MISSING_REQUIRED, /* a required field is absent */
	PBCHECK_TOO_DEEP,         /* nested deeper than PBCHECK_MAX_DEPTH */
	PBCHECK_TOO_COMPLEX,      /* decoding it would take more memory than allowed (pballoc.h) */
};

#define PBCHECK_MAX_DEPTH 16

struct pbcheck_result {
	enum pbcheck_problem problem;
	char path[256];    /* dotted snake_case path, [i] for repeated elements */
	char message[256]; /* for people: "missing required field", ... */
};

/* Walk data as a message of type desc and report the first problem found. */
enum pbcheck_problem pbcheck_explain(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
				     size_t len, struct pbcheck_result *res);

#endif
