/* Walk protobuf wire format, or a decoded message, against its descriptor to name the first
 * problem. */
#include "pbcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"

enum wire {
	WIRE_VARINT = 0,
	WIRE_64BIT = 1,
	WIRE_LEN = 2,
	WIRE_START_GROUP = 3,
	WIRE_END_GROUP = 4,
	WIRE_32BIT = 5,
};

/* One step of the path to the field being checked; the path is only spelled out on failure
 * (formatting it for every field was a tenth of the hub's CPU per request). */
struct frame {
	const ProtobufCFieldDescriptor *field;
	long idx; /* element of a repeated field, or -1 */
};

/* Frames for every nested message plus the failing field, and a spare. */
#define WALK_MAX_FRAMES (PBCHECK_MAX_DEPTH + 2)

struct walk {
	struct pbcheck_result *res;
	int text;               /* also check that strings are UTF-8 without NUL (pbcheck_text) */
	rules_lookup_fn lookup; /* also judge a decoded message by its rules (pbcheck_values) */
	const void *ctx;
	struct rules_today today;
	size_t depth;
	struct frame frames[WALK_MAX_FRAMES];
};

static const char *wire_name(unsigned w)
{
	static const char *names[] = {"varint",      "64-bit",    "length-delimited",
	                              "start-group", "end-group", "32-bit"};

	return w < sizeof(names) / sizeof(names[0]) ? names[w] : "invalid";
}

/* Append ".name" (or "name" at the top) and, for repeated fields, "[i]": the field's JSON
 * name, as the caseworker wrote it in a JSON file. */
static void path_append(char *p, size_t cap, const struct frame *fr)
{
	size_t len = strnlen(p, cap);
	char name[PBJSON_NAME_CAP];
	int n;

	pbjson_json_name(fr->field->name, name);
	n = snprintf(p + len, cap - len, "%s%s", len ? "." : "", name);
	if (n > 0 && (size_t)n < cap - len && fr->idx >= 0)
		snprintf(p + len + n, cap - len - n, "[%ld]", fr->idx);
}

/* Spell out the path of the current frames into the result. */
static void path_spell(struct walk *w)
{
	size_t i;

	w->res->path[0] = '\0';
	for (i = 0; i < w->depth && i < WALK_MAX_FRAMES; i++)
		path_append(w->res->path, sizeof(w->res->path), &w->frames[i]);
}

static void path_push(struct walk *w, const ProtobufCFieldDescriptor *f, long idx)
{
	/* Deeper than the frames hold cannot happen: walk_message stops at PBCHECK_MAX_DEPTH. */
	if (w->depth < WALK_MAX_FRAMES)
		w->frames[w->depth] = (struct frame){.field = f, .idx = idx};
	w->depth++;
}

static void path_pop(struct walk *w, size_t depth)
{
	w->depth = depth;
}

/* Record the first problem; later ones are consequences. */
static enum pbcheck_problem fail(struct walk *w, enum pbcheck_problem p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum pbcheck_problem fail(struct walk *w, enum pbcheck_problem p, const char *fmt, ...)
{
	va_list ap;

	w->res->problem = p;
	path_spell(w);
	va_start(ap, fmt);
	vsnprintf(w->res->message, sizeof(w->res->message), fmt, ap);
	va_end(ap);
	return p;
}

/* Read a varint of at most 10 bytes; return its length or 0 when bad. */
static size_t read_varint(const uint8_t *p, size_t avail, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < avail && i < 10; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}

static unsigned natural_wire(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return WIRE_64BIT;
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return WIRE_32BIT;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return WIRE_LEN;
	default:
		return WIRE_VARINT;
	}
}

/* Check that a packed repeated field's payload holds whole elements. */
static int packed_ok(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t len)
{
	uint64_t v;
	size_t n;

	switch (natural_wire(f->type)) {
	case WIRE_64BIT:
		return len % 8 == 0;
	case WIRE_32BIT:
		return len % 4 == 0;
	default:
		while (len > 0) {
			if (!(n = read_varint(p, len, &v)))
				return 0;
			p += n;
			len -= n;
		}
		return 1;
	}
}

/* Skip the value of one field; return its length in bytes or 0 when truncated. */
static size_t value_len(unsigned wire, const uint8_t *p, size_t avail, size_t *hdr)
{
	uint64_t v;
	size_t n;

	*hdr = 0;
	switch (wire) {
	case WIRE_VARINT:
		return read_varint(p, avail, &v);
	case WIRE_64BIT:
		return avail >= 8 ? 8 : 0;
	case WIRE_32BIT:
		return avail >= 4 ? 4 : 0;
	default: /* WIRE_LEN */
		if (!(n = read_varint(p, avail, &v)) || v > avail - n)
			return 0;
		*hdr = n;
		return n + (size_t)v;
	}
}

/* Length of the UTF-8 sequence at p (RFC 3629: shortest form, no surrogates, at most
 * U+10FFFF), or 0 when it is not one. NUL is refused too: it would end a C string. */
static size_t utf8_char_len(const uint8_t *p, size_t avail)
{
	size_t n, i;
	uint32_t c;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/* Say whether a string field's bytes are text: UTF-8 without NUL. */
static enum pbcheck_problem check_text(struct walk *w, const uint8_t *p, size_t len)
{
	size_t off = 0, n;

	while (off < len) {
		/* ASCII other than NUL is a whole character: most text needs no decoding. */
		if (p[off] - 1u < 0x7fu) {
			off++;
			continue;
		}
		if (!(n = utf8_char_len(p + off, len - off)))
			return fail(w, PBCHECK_BAD_TEXT,
			            p[off] == 0 ? "holds a NUL byte at offset %zu"
			                        : "not valid UTF-8 at offset %zu",
			            off);
		off += n;
	}
	return PBCHECK_OK;
}

static enum pbcheck_problem walk_message(struct walk *w, const ProtobufCMessageDescriptor *desc,
                                         const uint8_t *data, size_t len, unsigned depth);

/* Check one known field's value: wire type, packing, and nested messages. */
static enum pbcheck_problem check_field(struct walk *w, const ProtobufCFieldDescriptor *f,
                                        unsigned wire, const uint8_t *val, size_t vlen, long idx,
                                        unsigned depth)
{
	unsigned want = natural_wire(f->type);
	size_t saved = w->depth;
	int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
	/* A repeated number may come packed: many elements in one field. */
	int packed = repeated && wire == WIRE_LEN && want != WIRE_LEN;
	enum pbcheck_problem p = PBCHECK_OK;

	path_push(w, f, repeated && !packed ? idx : -1);
	if (packed) {
		if (!packed_ok(f, val, vlen))
			p = fail(w, PBCHECK_MALFORMED, "packed field holds a partial element");
	} else if (wire != want) {
		p = fail(w, PBCHECK_WRONG_TYPE, "wrong wire type: expected %s, got %s",
		         wire_name(want), wire_name(wire));
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		p = walk_message(w, f->descriptor, val, vlen, depth + 1);
	} else if (w->text && f->type == PROTOBUF_C_TYPE_STRING) {
		p = check_text(w, val, vlen);
	}
	if (p == PBCHECK_OK)
		path_pop(w, saved);
	return p;
}

/* Report the first required field of desc not marked in seen. */
static enum pbcheck_problem check_required(struct walk *w, const ProtobufCMessageDescriptor *desc,
                                           const size_t *seen)
{
	unsigned i;

	for (i = 0; i < desc->n_fields; i++) {
		if (desc->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen[i]) {
			path_push(w, &desc->fields[i], -1);
			return fail(w, PBCHECK_MISSING_REQUIRED, "missing required field");
		}
	}
	return PBCHECK_OK;
}

/* Walk the fields of one message; seen counts each field's occurrences. */
static enum pbcheck_problem walk_fields(struct walk *w, const ProtobufCMessageDescriptor *desc,
                                        const uint8_t *data, size_t len, unsigned depth,
                                        size_t *seen)
{
	const ProtobufCFieldDescriptor *f;
	size_t off = 0, n, vlen, hdr;
	enum pbcheck_problem p;
	uint64_t key;
	unsigned wire;

	while (off < len) {
		if (!(n = read_varint(data + off, len - off, &key)))
			return fail(w, PBCHECK_MALFORMED, "bad or truncated field key");
		off += n;
		wire = (unsigned)(key & 7);
		if (key >> 3 == 0 || key >> 3 > UINT32_MAX >> 3)
			return fail(w, PBCHECK_MALFORMED, "bad field number");
		if (wire == WIRE_START_GROUP || wire == WIRE_END_GROUP || wire > WIRE_32BIT)
			return fail(w, PBCHECK_MALFORMED, "unsupported wire type %u", wire);
		f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
		if (!(vlen = value_len(wire, data + off, len - off, &hdr))) {
			if (f)
				path_push(w, f, -1);
			return fail(w, PBCHECK_MALFORMED, "truncated %s value", wire_name(wire));
		}
		/* Unknown field numbers are valid protobuf: skip them. */
		if (f) {
			size_t i = (size_t)(f - desc->fields);

			p = check_field(w, f, wire, data + off + hdr, vlen - hdr, (long)seen[i],
			                depth);
			if (p != PBCHECK_OK)
				return p;
			seen[i]++;
		}
		off += vlen;
	}
	return check_required(w, desc, seen);
}

static enum pbcheck_problem walk_message(struct walk *w, const ProtobufCMessageDescriptor *desc,
                                         const uint8_t *data, size_t len, unsigned depth)
{
	enum pbcheck_problem p;
	size_t local[32] = {0}, *seen = local;

	if (depth > PBCHECK_MAX_DEPTH)
		return fail(w, PBCHECK_TOO_DEEP, "nested deeper than %d messages",
		            PBCHECK_MAX_DEPTH);
	/* Most messages have few fields: count them on the stack, not in a calloc per message. */
	if (desc->n_fields > sizeof(local) / sizeof(local[0]) &&
	    !(seen = calloc(desc->n_fields, sizeof(*seen))))
		return fail(w, PBCHECK_MALFORMED, "out of memory");
	p = walk_fields(w, desc, data, len, depth, seen);
	if (seen != local)
		free(seen);
	return p;
}

/* Walk data as a message of type desc and report the first problem found. */
enum pbcheck_problem pbcheck_explain(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                     size_t len, struct pbcheck_result *res)
{
	struct walk w = {.res = res};

	memset(res, 0, sizeof(*res));
	if (!data && len > 0)
		return fail(&w, PBCHECK_MALFORMED, "no data");
	return walk_message(&w, desc, data, len, 1);
}

/* Report the first string field of data, at any depth, that is not UTF-8 or holds a NUL. */
enum pbcheck_problem pbcheck_text(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                  size_t len, struct pbcheck_result *res)
{
	struct walk w = {.res = res, .text = 1};

	memset(res, 0, sizeof(*res));
	if (!data && len > 0)
		return fail(&w, PBCHECK_MALFORMED, "no data");
	return walk_message(&w, desc, data, len, 1);
}

/* ---- decoded messages: what protobuf-c unpack lets through ---- */

#define MEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

static enum pbcheck_problem check_decoded(struct walk *w, const ProtobufCMessage *msg,
                                          unsigned depth);

/* Check one value of field f (an element of a repeated field, or the field itself) against
 * its enum and its rules r (NULL: none). */
static enum pbcheck_problem check_decoded_value(struct walk *w, const ProtobufCFieldDescriptor *f,
                                                const struct rules *r, const void *v,
                                                unsigned depth)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCMessage *sub;
	char why[sizeof(w->res->message)];

	if (f->type == PROTOBUF_C_TYPE_ENUM &&
	    !protobuf_c_enum_descriptor_get_value(ed, *(const int *)v))
		return fail(w, PBCHECK_BAD_ENUM, "%d is not one of the %s values", *(const int *)v,
		            ed->short_name);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		sub = *(const ProtobufCMessage *const *)v;
		return sub ? check_decoded(w, sub, depth + 1) : PBCHECK_OK;
	}
	if (rules_judge(r, f, v, &w->today, why, sizeof(why)) < 0)
		return fail(w, PBCHECK_BROKEN_RULE, "%s", why);
	return PBCHECK_OK;
}

/* Say whether a singular field of msg is set (a oneof member only when it is the chosen one). */
static int decoded_is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)MEMBER(msg, f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		return *(const protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset);
	return 1; /* required, or a string or message: NULL when absent */
}

/* The size of one element of a repeated field of type t (enums, strings, messages and the
 * integers rules judge; 0 for what is never checked). */
static size_t element_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	default:
		return 0;
	}
}

/* Check how many values repeated field f holds, then every value. */
static enum pbcheck_problem check_decoded_repeated(struct walk *w, const ProtobufCMessage *msg,
                                                   const ProtobufCFieldDescriptor *f,
                                                   const struct rules *r, unsigned depth)
{
	size_t saved = w->depth, n, i, size = element_size(f->type);
	enum pbcheck_problem p = PBCHECK_OK;
	char why[sizeof(w->res->message)];
	const char *arr;

	n = *(const size_t *)MEMBER(msg, f->quantifier_offset);
	arr = *(const char *const *)MEMBER(msg, f->offset);
	if (rules_judge_count(r, n, why, sizeof(why)) < 0) {
		path_push(w, f, -1);
		return fail(w, PBCHECK_BROKEN_RULE, "%s", why);
	}
	for (i = 0; i < n && p == PBCHECK_OK; i++) {
		path_push(w, f, (long)i);
		if ((p = check_decoded_value(w, f, r, arr + i * size, depth)) == PBCHECK_OK)
			path_pop(w, saved);
	}
	return p;
}

/* Check every set value of field f of msg. */
static enum pbcheck_problem check_decoded_field(struct walk *w, const ProtobufCMessage *msg,
                                                const ProtobufCFieldDescriptor *f, unsigned depth)
{
	const struct rules *r = w->lookup ? w->lookup(w->ctx, msg->descriptor, f) : NULL;
	size_t saved = w->depth;
	enum pbcheck_problem p;

	/* Only enums, strings and messages can hold what unpack does not check; integers only
	 * break rules. */
	if (element_size(f->type) == 0 ||
	    (!r && f->type != PROTOBUF_C_TYPE_ENUM && f->type != PROTOBUF_C_TYPE_MESSAGE &&
	     f->type != PROTOBUF_C_TYPE_STRING))
		return PBCHECK_OK;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return check_decoded_repeated(w, msg, f, r, depth);
	if (!decoded_is_set(msg, f))
		return PBCHECK_OK;
	path_push(w, f, -1);
	if ((p = check_decoded_value(w, f, r, MEMBER(msg, f->offset), depth)) == PBCHECK_OK)
		path_pop(w, saved);
	return p;
}

static enum pbcheck_problem check_decoded(struct walk *w, const ProtobufCMessage *msg,
                                          unsigned depth)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	enum pbcheck_problem p;
	unsigned i;

	if (depth > PBCHECK_MAX_DEPTH)
		return fail(w, PBCHECK_TOO_DEEP, "nested deeper than %d messages",
		            PBCHECK_MAX_DEPTH);
	for (i = 0; i < desc->n_fields; i++)
		if ((p = check_decoded_field(w, msg, &desc->fields[i], depth)) != PBCHECK_OK)
			return p;
	return PBCHECK_OK;
}

/* Report the first enum field of msg, at any depth, holding a number its enum lacks. */
enum pbcheck_problem pbcheck_enums(const ProtobufCMessage *msg, struct pbcheck_result *res)
{
	struct walk w = {.res = res};

	memset(res, 0, sizeof(*res));
	return check_decoded(&w, msg, 1);
}

/* Report the first bad enum number or value that breaks its rule in msg, at any depth. */
enum pbcheck_problem pbcheck_values(const ProtobufCMessage *msg, rules_lookup_fn lookup,
                                    const void *ctx, int64_t now, struct pbcheck_result *res)
{
	struct walk w = {.res = res, .lookup = lookup, .ctx = ctx};

	memset(res, 0, sizeof(*res));
	rules_today_at(&w.today, now);
	return check_decoded(&w, msg, 1);
}
