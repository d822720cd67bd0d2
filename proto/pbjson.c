/*
 * JSON <-> protobuf through protobuf-c descriptors and jansson, after
 * protobuf's canonical JSON mapping. Decoded messages are laid out exactly as
 * protobuf_c_message_unpack() would leave them (malloc'd, defaults from
 * protobuf_c_message_init()), so protobuf_c_message_free_unpacked() frees them.
 */
#include "pbjson.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBJSON_MAX_DEPTH 16
#define NAME_CAP         PBJSON_NAME_CAP

#define MEMBER(msg, off)  ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

/* Write the canonical JSON name of field name (lowerCamelCase) to out (PBJSON_NAME_CAP bytes).
 * protobuf-c 1.4 has no json_name: derive it as protoc does (drop '_', upper-case the letter
 * after it). */
void pbjson_json_name(const char *name, char *out)
{
	pbjson_json_path(name, out, NAME_CAP);
}

/* Write path (dotted field names, [i] for elements) with each name as its JSON name to out
 * (cap bytes, cap > 0). */
void pbjson_json_path(const char *path, char *out, size_t cap)
{
	size_t o = 0;
	int upper = 0;

	for (; *path && o + 1 < cap; path++) {
		if (*path == '_') {
			upper = 1;
			continue;
		}
		out[o++] = upper ? (char)toupper((unsigned char)*path) : *path;
		upper = 0;
	}
	out[o] = '\0';
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default: /* 32-bit integers and float */
		return sizeof(uint32_t);
	}
}

static int is_oneof(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/* Optional scalars and bytes carry a has_ flag; strings and messages use NULL. */
static int has_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_oneof(f) && f->quantifier_offset != 0;
}

/* ---- decoding ---- */

static int fail(struct pbjson_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record why decoding stopped; the path is wherever the walk is now. */
static int fail(struct pbjson_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static size_t path_push_name(struct pbjson_error *err, const char *name)
{
	size_t len = strnlen(err->path, sizeof(err->path));

	snprintf(err->path + len, sizeof(err->path) - len, "%s%s", len ? "." : "", name);
	return len;
}

static size_t path_push_index(struct pbjson_error *err, size_t i)
{
	size_t len = strnlen(err->path, sizeof(err->path));

	snprintf(err->path + len, sizeof(err->path) - len, "[%zu]", i);
	return len;
}

static void path_pop(struct pbjson_error *err, size_t len)
{
	err->path[len] = '\0';
}

static const char *json_kind(const json_t *j)
{
	if (!j) {
		return "nothing";
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static int mismatch(struct pbjson_error *err, const char *want, const json_t *got)
{
	return fail(err, "type mismatch: expected %s, got %s", want, json_kind(got));
}

#define NOT_NUMERIC "type mismatch: expected an integer, got a non-numeric string"

/* Judge what strtoll/strtoull left (errno cleared before): all digits, and in range. */
static int check_parsed(struct pbjson_error *err, const char *end, const char *type)
{
	if (*end) {
		return fail(err, NOT_NUMERIC);
	}
	if (errno == ERANGE) {
		return fail(err, "out of range for %s", type);
	}
	return 0;
}

/* Read an integer given as a JSON number or a decimal string. */
static int get_i64(struct pbjson_error *err, const json_t *j, const char *type, int64_t *out)
{
	const char *s;
	char *end;
	double d;

	if (json_is_integer(j)) {
		*out = json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		d = json_real_value(j);
		if (d != floor(d)) {
			return fail(err, "type mismatch: expected an integer, got a fraction");
		}
		if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
			return fail(err, "out of range for %s", type);
		}
		*out = (int64_t)d;
		return 0;
	}
	if (!json_is_string(j)) {
		return mismatch(err, "an integer", j);
	}
	s = json_string_value(j);
	if (!(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1])))) {
		return fail(err, NOT_NUMERIC);
	}
	errno = 0;
	*out = strtoll(s, &end, 10);
	return check_parsed(err, end, type);
}

/* Read a non-negative integer given as a JSON number or a decimal string. */
static int get_u64(struct pbjson_error *err, const json_t *j, const char *type, uint64_t *out)
{
	int64_t v = 0;
	char *end;
	const char *s;

	if (!json_is_string(j)) {
		if (get_i64(err, j, type, &v) < 0) {
			return -1;
		}
		if (v < 0) {
			return fail(err, "out of range for %s", type);
		}
		*out = (uint64_t)v;
		return 0;
	}
	s = json_string_value(j);
	if (s[0] == '-' && isdigit((unsigned char)s[1])) {
		return fail(err, "out of range for %s", type);
	}
	if (!isdigit((unsigned char)s[0])) {
		return fail(err, NOT_NUMERIC);
	}
	errno = 0;
	*out = strtoull(s, &end, 10);
	return check_parsed(err, end, type);
}

static int get_int(struct pbjson_error *err, const json_t *j, const ProtobufCFieldDescriptor *f,
                   void *dst)
{
	uint64_t u;
	int64_t v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (get_i64(err, j, "int32", &v) < 0) {
			return -1;
		}
		if (v < INT32_MIN || v > INT32_MAX) {
			return fail(err, "out of range for int32");
		}
		*(int32_t *)dst = (int32_t)v;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (get_u64(err, j, "uint32", &u) < 0) {
			return -1;
		}
		if (u > UINT32_MAX) {
			return fail(err, "out of range for uint32");
		}
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return get_u64(err, j, "uint64", dst);
	default: /* the signed 64-bit types */
		return get_i64(err, j, "int64", dst);
	}
}

static int get_float(struct pbjson_error *err, const json_t *j, const ProtobufCFieldDescriptor *f,
                     void *dst)
{
	const char *s;
	double d;

	if (json_is_number(j)) {
		d = json_number_value(j);
	} else if (json_is_string(j)) {
		s = json_string_value(j);
		if (strcmp(s, "NaN") == 0) {
			d = NAN;
		} else if (strcmp(s, "Infinity") == 0) {
			d = INFINITY;
		} else if (strcmp(s, "-Infinity") == 0) {
			d = -INFINITY;
		} else {
			return fail(err, "type mismatch: expected a number, got a string");
		}
	} else {
		return mismatch(err, "a number", j);
	}
	if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
		*(double *)dst = d;
		return 0;
	}
	if (isfinite(d) && fabs(d) > FLT_MAX) {
		return fail(err, "out of range for float");
	}
	*(float *)dst = (float)d;
	return 0;
}

static int get_enum(struct pbjson_error *err, const json_t *j, const ProtobufCFieldDescriptor *f,
                    int *dst)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue *ev;

	if (json_is_string(j)) {
		if (!(ev =
		          protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j)))) {
			return fail(err, "unknown enum name \"%.64s\" for %s", json_string_value(j),
			            ed->short_name);
		}
	} else if (json_is_integer(j)) {
		if (json_integer_value(j) < INT_MIN || json_integer_value(j) > INT_MAX ||
		    !(ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(j)))) {
			return fail(err, "unknown enum number %" JSON_INTEGER_FORMAT " for %s",
			            json_integer_value(j), ed->short_name);
		}
	} else {
		return mismatch(err, "an enum name", j);
	}
	*dst = ev->value;
	return 0;
}

static int b64_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Decode standard base64 (URL-safe and unpadded forms accepted too, as the
 * canonical mapping asks). */
static int get_bytes(struct pbjson_error *err, const json_t *j, ProtobufCBinaryData *dst)
{
	size_t len, i, pad = 0, full;
	unsigned char *in = NULL, *out = NULL;
	int n;

	if (!json_is_string(j)) {
		return mismatch(err, "a base64 string", j);
	}
	len = json_string_length(j);
	while (len > 0 && json_string_value(j)[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad && (len + pad) % 4) || len > INT_MAX / 2) {
		return fail(err, "invalid base64");
	}
	if (len == 0) {
		dst->data = NULL;
		dst->len = 0;
		return 0;
	}
	full = (len + 3) / 4 * 4;
	if (!(in = malloc(full)) || !(out = malloc(full / 4 * 3))) {
		free(in);
		return fail(err, "out of memory");
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)json_string_value(j)[i];

		c = c == '-' ? '+' : c == '_' ? '/' : c;
		if (!b64_char_ok(c)) {
			goto bad;
		}
		in[i] = c;
	}
	memset(in + len, '=', full - len);
	/* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
	if ((n = EVP_DecodeBlock(out, in, (int)full)) < 0) {
		goto bad;
	}
	free(in);
	dst->data = out;
	dst->len = (size_t)n - (full - len);
	return 0;
bad:
	free(in);
	free(out);
	return fail(err, "invalid base64");
}

static int is_placeholder(const json_t *j)
{
	const char *s = json_string_value(j);

	return s && (strncmp(s, "<required", 9) == 0 || strncmp(s, "<optional", 9) == 0);
}

static int decode_message(struct pbjson_error *err, const json_t *json, ProtobufCMessage *msg,
                          int depth);

/* Initialise msg as unpack would. Compiled descriptors have an init function; those built at
 * run time (schema.h) have none, and protobuf_c_message_init() would call NULL: start from
 * zero and the descriptor's defaults, as protobuf-c's unpack does for them. */
static void init_message(const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg)
{
	const ProtobufCFieldDescriptor *f;
	char *dst;
	unsigned i;

	if (desc->message_init) {
		protobuf_c_message_init(desc, msg);
		return;
	}
	memset(msg, 0, desc->sizeof_message);
	msg->descriptor = desc;
	for (i = 0; i < desc->n_fields; i++) {
		f = &desc->fields[i];
		if (!f->default_value || f->label == PROTOBUF_C_LABEL_REPEATED) {
			continue;
		}
		dst = (char *)msg + f->offset;
		if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
			*(const void **)dst = f->default_value; /* a default string is shared */
		} else {
			memcpy(dst, f->default_value, elem_size(f->type));
		}
	}
}

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *msg = malloc(desc->sizeof_message);

	if (msg) {
		init_message(desc, msg);
	}
	return msg;
}

/* Decode one value into dst (a member, or an element of a repeated array). A
 * message slot must already hold a new message, so a failure is freed with
 * the whole tree. */
static int decode_value(struct pbjson_error *err, const ProtobufCFieldDescriptor *f,
                        const json_t *j, void *dst, int depth)
{
	char *s;

	/* Templates put placeholder strings everywhere, whatever the type. */
	if (is_placeholder(j)) {
		return fail(err, "placeholder left in: fill in or remove the field");
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return get_float(err, j, f, dst);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j)) {
			return mismatch(err, "true or false", j);
		}
		*(protobuf_c_boolean *)dst = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return get_enum(err, j, f, dst);
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(j)) {
			return mismatch(err, "a string", j);
		}
		if (!(s = strdup(json_string_value(j)))) {
			return fail(err, "out of memory");
		}
		*(char **)dst = s;
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		return get_bytes(err, j, dst);
	case PROTOBUF_C_TYPE_MESSAGE:
		return decode_message(err, j, *(ProtobufCMessage **)dst, depth + 1);
	default:
		return get_int(err, j, f, dst);
	}
}

/* Give a message slot its (empty) message before decoding into it. */
static int prepare_slot(struct pbjson_error *err, const ProtobufCFieldDescriptor *f, void *dst)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		return 0;
	}
	if (!(*(ProtobufCMessage **)dst = new_message(f->descriptor))) {
		return fail(err, "out of memory");
	}
	return 0;
}

static int decode_repeated(struct pbjson_error *err, const ProtobufCFieldDescriptor *f,
                           const json_t *j, ProtobufCMessage *msg, int depth)
{
	size_t *count = MEMBER(msg, f->quantifier_offset);
	size_t n = json_array_size(j), i, size = elem_size(f->type), saved;
	char *arr;

	if (!json_is_array(j)) {
		return mismatch(err, "an array", j);
	}
	if (n == 0) {
		return 0;
	}
	if (!(arr = calloc(n, size))) {
		return fail(err, "out of memory");
	}
	*(void **)MEMBER(msg, f->offset) = arr;
	for (i = 0; i < n; i++) {
		saved = path_push_index(err, i);
		if (prepare_slot(err, f, arr + i * size) < 0) {
			return -1;
		}
		/* Count the element before filling it, so a failure frees it. */
		*count = i + 1;
		if (decode_value(err, f, json_array_get(j, i), arr + i * size, depth) < 0) {
			return -1;
		}
		path_pop(err, saved);
	}
	return 0;
}

/* Name the member of f's oneof that is already set, if any other is. */
static const ProtobufCFieldDescriptor *oneof_rival(const ProtobufCMessage *msg,
                                                   const ProtobufCFieldDescriptor *f)
{
	uint32_t set = *(const uint32_t *)CMEMBER(msg, f->quantifier_offset);

	if (set == 0 || set == f->id) {
		return NULL;
	}
	return protobuf_c_message_descriptor_get_field(msg->descriptor, set);
}

static int decode_field(struct pbjson_error *err, const ProtobufCFieldDescriptor *f,
                        const json_t *j, ProtobufCMessage *msg, int depth)
{
	const ProtobufCFieldDescriptor *rival;
	void *dst = MEMBER(msg, f->offset);
	char a[NAME_CAP], b[NAME_CAP];

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		return decode_repeated(err, f, j, msg, depth);
	}
	if (is_oneof(f)) {
		if ((rival = oneof_rival(msg, f))) {
			pbjson_json_name(rival->name, a);
			pbjson_json_name(f->name, b);
			return fail(err, "only one of %s and %s may be set", a, b);
		}
		/* Select the member first, so free_unpacked frees what we store. */
		*(uint32_t *)MEMBER(msg, f->quantifier_offset) = f->id;
	}
	if (prepare_slot(err, f, dst) < 0 || decode_value(err, f, j, dst, depth) < 0) {
		return -1;
	}
	if (has_flag(f)) {
		*(protobuf_c_boolean *)MEMBER(msg, f->quantifier_offset) = 1;
	}
	return 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key)
{
	char camel[NAME_CAP];
	unsigned i;

	for (i = 0; i < desc->n_fields; i++) {
		pbjson_json_name(desc->fields[i].name, camel);
		if (strcmp(key, camel) == 0 || strcmp(key, desc->fields[i].name) == 0) {
			return &desc->fields[i];
		}
	}
	return NULL;
}

/* Return f's value in json under either name (null counts as absent), and in name the name it
 * was given under (its JSON name when absent), for error paths. */
static int lookup(struct pbjson_error *err, const json_t *json, const ProtobufCFieldDescriptor *f,
                  const json_t **out, char *name)
{
	char *camel = name;
	const json_t *a, *b = NULL;

	pbjson_json_name(f->name, camel);
	a = json_object_get(json, camel);
	if (strcmp(camel, f->name) != 0) {
		b = json_object_get(json, f->name);
	}
	if (json_is_null(a)) {
		a = NULL;
	}
	if (json_is_null(b)) {
		b = NULL;
	}
	if (a && b) {
		return fail(err, "given twice, as %s and %s", camel, f->name);
	}
	if (!a && b) {
		snprintf(name, NAME_CAP, "%s", f->name);
	}
	*out = a ? a : b;
	return 0;
}

/* Set by pbjson_decode_partial for the length of one call (on its thread). */
static _Thread_local bool decode_partial;

static int decode_message(struct pbjson_error *err, const json_t *json, ProtobufCMessage *msg,
                          int depth)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	const ProtobufCFieldDescriptor *f;
	char name[NAME_CAP];
	const json_t *v = NULL;
	const char *key;
	json_t *val;
	size_t saved;
	unsigned i;

	if (!json_is_object(json)) {
		return mismatch(err, "an object", json);
	}
	if (depth > PBJSON_MAX_DEPTH) {
		return fail(err, "nested deeper than %d messages", PBJSON_MAX_DEPTH);
	}
	/* Unknown names first: a misspelt field would otherwise look missing. */
	json_object_foreach((json_t *)json, key, val)
	{
		if (!find_field(desc, key)) {
			path_push_name(err, key);
			return fail(err, "unknown field");
		}
	}
	for (i = 0; i < desc->n_fields; i++) {
		f = &desc->fields[i];
		saved = strnlen(err->path, sizeof(err->path));
		if (lookup(err, json, f, &v, name) < 0) {
			path_push_name(err, name);
			return -1;
		}
		path_push_name(err, name);
		if (!v && f->label == PROTOBUF_C_LABEL_REQUIRED && !decode_partial) {
			return fail(err, "missing required field");
		}
		if (v && decode_field(err, f, v, msg, depth) < 0) {
			return -1;
		}
		path_pop(err, saved);
	}
	return 0;
}

/* Build a new message of type desc from a JSON object. */
ProtobufCMessage *pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                struct pbjson_error *err)
{
	struct pbjson_error local;
	ProtobufCMessage *msg;

	if (!err) {
		err = &local;
	}
	memset(err, 0, sizeof(*err));
	if (!(msg = new_message(desc))) {
		fail(err, "out of memory");
		return NULL;
	}
	if (decode_message(err, json, msg, 1) < 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return NULL;
	}
	return msg;
}

/* Like pbjson_decode, but a missing required field is not an error. */
ProtobufCMessage *pbjson_decode_partial(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                        struct pbjson_error *err)
{
	ProtobufCMessage *msg;

	decode_partial = true;
	msg = pbjson_decode(desc, json, err);
	decode_partial = false;
	return msg;
}

/* ---- encoding ---- */

static json_t *encode_message(const ProtobufCMessage *msg);

static json_t *encode_bytes(const ProtobufCBinaryData *b)
{
	unsigned char *out;
	json_t *j;
	int n;

	if (b->len > (size_t)INT_MAX / 4 * 3 - 3) {
		return NULL;
	}
	if (!(out = malloc(b->len / 3 * 4 + 5))) {
		return NULL;
	}
	n = EVP_EncodeBlock(out, b->len ? b->data : (const unsigned char *)"", (int)b->len);
	j = json_stringn((const char *)out, (size_t)n);
	free(out);
	return j;
}

static json_t *encode_double(double d)
{
	if (isnan(d)) {
		return json_string("NaN");
	}
	if (isinf(d)) {
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	}
	return json_real(d);
}

static json_t *encode_int64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static json_t *encode_uint64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *encode_enum(const ProtobufCFieldDescriptor *f, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);

	return ev ? json_string(ev->name) : json_integer(v);
}

/* Render one value (a member, or an element of a repeated array). */
static json_t *encode_value(const ProtobufCFieldDescriptor *f, const void *src)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)src);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)src);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return encode_int64(*(const int64_t *)src);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return encode_uint64(*(const uint64_t *)src);
	case PROTOBUF_C_TYPE_FLOAT:
		return encode_double(*(const float *)src);
	case PROTOBUF_C_TYPE_DOUBLE:
		return encode_double(*(const double *)src);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)src);
	case PROTOBUF_C_TYPE_ENUM:
		return encode_enum(f, *(const int *)src);
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)src);
	case PROTOBUF_C_TYPE_BYTES:
		return encode_bytes(src);
	default: /* PROTOBUF_C_TYPE_MESSAGE */
		return encode_message(*(ProtobufCMessage *const *)src);
	}
}

static json_t *encode_repeated(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
	size_t n = *(const size_t *)CMEMBER(msg, f->quantifier_offset), i;
	const char *arr = *(char *const *)CMEMBER(msg, f->offset);
	size_t size = elem_size(f->type);
	json_t *a = json_array();

	for (i = 0; a && i < n; i++) {
		if (json_array_append_new(a, encode_value(f, arr + i * size)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Say whether f holds a value worth writing out. */
static int field_is_set(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
	const void *p = CMEMBER(msg, f->offset);

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		return *(const size_t *)CMEMBER(msg, f->quantifier_offset) > 0;
	}
	if (is_oneof(f)) {
		return *(const uint32_t *)CMEMBER(msg, f->quantifier_offset) == f->id;
	}
	if (has_flag(f)) {
		return *(const protobuf_c_boolean *)CMEMBER(msg, f->quantifier_offset);
	}
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		/* An optional string or message still pointing at its default is unset. */
		const void *v = *(const void *const *)p;

		return v && (f->label == PROTOBUF_C_LABEL_REQUIRED || v != f->default_value);
	}
	return 1; /* required scalars, and proto3 scalars without presence */
}

static json_t *encode_message(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc;
	const ProtobufCFieldDescriptor *f;
	char camel[NAME_CAP];
	json_t *obj, *v;
	unsigned i;

	if (!msg || !(obj = json_object())) {
		return NULL;
	}
	desc = msg->descriptor;
	for (i = 0; i < desc->n_fields; i++) {
		f = &desc->fields[i];
		if (!field_is_set(f, msg)) {
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			v = encode_repeated(f, msg);
		} else {
			v = encode_value(f, CMEMBER(msg, f->offset));
		}
		pbjson_json_name(f->name, camel);
		/* json_object_set_new() takes v, even on failure. */
		if (json_object_set_new(obj, camel, v) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

/* Render a message as a new JSON object; NULL if a string is not UTF-8 or
 * memory runs out. */
json_t *pbjson_encode(const ProtobufCMessage *msg)
{
	return encode_message(msg);
}

/* ---- templates ---- */

/* Return the .proto name of type t ("uint32", "bytes"), "value" for one it does not know. */
const char *pbjson_type_name(ProtobufCType t)
{
	static const char *names[] = {
	    [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
	    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
	    [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
	    [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
	    [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
	    [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
	    [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_ENUM] = "enum",
	    [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
	    [PROTOBUF_C_TYPE_MESSAGE] = "message",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "value";
}

/* "<required one of: A|B|C>" for an enum, "<optional uint32>" otherwise. */
static json_t *placeholder(const ProtobufCFieldDescriptor *f)
{
	const char *need = f->label == PROTOBUF_C_LABEL_REQUIRED ? "required" : "optional";
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	char *buf = NULL;
	size_t size = 0;
	json_t *j = NULL;
	FILE *out;
	unsigned i;

	if (!(out = open_memstream(&buf, &size))) {
		return NULL;
	}
	if (f->type == PROTOBUF_C_TYPE_ENUM) {
		fprintf(out, "<%s one of: ", need);
		for (i = 0; i < ed->n_values; i++) {
			fprintf(out, "%s%s", i ? "|" : "", ed->values[i].name);
		}
		fputs(">", out);
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		fprintf(out, "<%s %s>", need,
		        ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name);
	} else {
		fprintf(out, "<%s %s%s>", need, pbjson_type_name(f->type),
		        f->type == PROTOBUF_C_TYPE_BYTES ? " (base64)" : "");
	}
	if (fclose(out) == 0) {
		j = json_string(buf);
	}
	free(buf);
	return j;
}

static int on_stack(const ProtobufCMessageDescriptor *const *stack, int depth,
                    const ProtobufCMessageDescriptor *desc)
{
	int i;

	for (i = 0; i < depth; i++) {
		if (stack[i] == desc) {
			return 1;
		}
	}
	return 0;
}

/* Expand desc; a message type already being expanded becomes a placeholder. */
static json_t *template_message(const ProtobufCMessageDescriptor **stack, int depth)
{
	const ProtobufCMessageDescriptor *desc = stack[depth - 1];
	const ProtobufCFieldDescriptor *f;
	char camel[NAME_CAP];
	json_t *obj = json_object(), *v;
	unsigned i;

	for (i = 0; obj && i < desc->n_fields; i++) {
		f = &desc->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < PBJSON_MAX_DEPTH &&
		    !on_stack(stack, depth, f->descriptor)) {
			stack[depth] = f->descriptor;
			v = template_message(stack, depth + 1);
		} else {
			v = placeholder(f);
		}
		if (v && f->label == PROTOBUF_C_LABEL_REPEATED) {
			json_t *a = json_array();

			if (json_array_append_new(a, v) < 0) {
				json_decref(a);
				a = NULL;
			}
			v = a;
		}
		pbjson_json_name(f->name, camel);
		if (json_object_set_new(obj, camel, v) < 0) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

/* Build a fill-in skeleton of desc with placeholder strings for every field. */
json_t *pbjson_template(const ProtobufCMessageDescriptor *desc)
{
	const ProtobufCMessageDescriptor *stack[PBJSON_MAX_DEPTH] = {desc};

	return template_message(stack, 1);
}
