/*
 * Agreed forms as data: load a FileDescriptorSet (what `protoc --include_source_info
 * --descriptor_set_out=FILE` writes for the forms' .proto files) into protobuf-c descriptors
 * built at run time, laid out exactly as protoc-c would lay out the compiled structs, so
 * protobuf_c_message_unpack/pack, pbjson, pbcheck and prefill work on them unchanged
 * (message_init is NULL: protobuf-c then initialises a message from its descriptor).
 *
 * Conventions (proto2 only):
 * - Every top-level message of every file in the set is a form. Its name is the message name
 *   in snake_case (HousingSupport -> housing_support).
 * - The leading comment of a form's message gives its title (first line), its version (a line
 *   "version: N", N >= 1; 1 when there is none) and help text (the other lines). Without a
 *   title line the title is the name in words ("Housing support").
 * - The leading comment of a field gives its label (first line) and help (the other lines);
 *   without one the label is the field name in words ("Date at risk") and the help is the
 *   field's trailing comment, if any.
 * - Refused, with a message naming the file and the message or field: proto3 (any syntax but
 *   proto2), extensions and extension ranges, groups, maps, oneofs, services, recursive
 *   messages (directly or through others), more than SCHEMA_MAX_FIELDS fields in a message
 *   or SCHEMA_MAX_FORM_FIELDS in a form unfolded (so its JSON template stays small),
 *   messages nested (declared or used) deeper than SCHEMA_MAX_DEPTH, enum aliases, defaults on
 *   required, bytes or message fields, a json_name that is not the usual lowerCamelCase one,
 *   two fields with the same JSON name, names that are not identifiers of at most
 *   SCHEMA_MAX_NAME bytes, enum numbers beyond SCHEMA_MAX_ENUM_NUMBER, comments with control
 *   characters or longer than the caps, imports other than refex/rules.proto, a rule
 *   (refex.rules.rule, proto/refex/rules.proto) that does not fit its field (a date rule on a
 *   number, min above max, ...) or holds a setting this code does not know. A refusal never
 *   repeats unprintable input.
 * - A file named refex/rules.proto in the set (protoc --include_imports puts it there) is the
 *   rules' definition, not a form: it is skipped.
 *
 * The input may come from a peer: its size is capped before anything is decoded, its nesting
 * is bounded (pbcheck) before protobuf-c recurses into it, every index and reference in it is
 * checked, and everything a schema owns lives in one arena freed by schema_free().
 */
#ifndef REFEX_SCHEMA_H
#define REFEX_SCHEMA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define SCHEMA_MAX_BYTES       (1024 * 1024) /* a descriptor set, as protoc writes it */
#define SCHEMA_MAX_FILES       64
#define SCHEMA_MAX_MESSAGES    256 /* in the whole set, nested ones included */
#define SCHEMA_MAX_ENUMS       256
#define SCHEMA_MAX_FIELDS      200 /* in one message */
#define SCHEMA_MAX_ENUM_VALUES 1000
#define SCHEMA_MAX_ENUM_NUMBER 1000000000 /* an enum value is from -10^9 to 10^9 */
#define SCHEMA_MAX_DEPTH       4    /* messages in messages: a form with a nested message is 2 */
#define SCHEMA_MAX_FORM_FIELDS 1000 /* in a form, each nested message's fields counted per use */
#define SCHEMA_MAX_NAME        64
#define SCHEMA_MAX_LABEL       200  /* bytes of a title or label */
#define SCHEMA_MAX_HELP        2000 /* bytes of help text */
#define SCHEMA_MAX_VERSION     1000000
#define SCHEMA_MAX_MEMORY      (16u * 1024u * 1024u) /* what one loaded schema may take */

struct rules;

/* What people read about a field, and the rules partners agreed for it. */
struct schema_field {
	const char *label;         /* never NULL */
	const char *help;          /* NULL when there is none */
	const struct rules *rules; /* its (refex.rules.rule) option (rules.h); NULL: none */
};

struct schema_form {
	const char *name;  /* housing_support */
	const char *title; /* Housing support */
	const char *help;  /* NULL when there is none */
	uint32_t version;
	const char *file; /* the .proto file it came from, as protoc names it */
	const ProtobufCMessageDescriptor *desc;
};

struct schema_error {
	char message[512]; /* for people: "debt.proto: refex.forms.Debt.kind: oneofs are not ..." */
};

struct schema;

/* Load a descriptor set of len bytes; NULL with err filled if it is refused. */
struct schema *schema_load(const uint8_t *data, size_t len, struct schema_error *err);

/* Free a schema and every descriptor it owns (NULL is fine). */
void schema_free(struct schema *s);

/* Return the number of forms in s. */
size_t schema_form_count(const struct schema *s);

/* Return the i-th form of s in name order, or NULL past the end. */
const struct schema_form *schema_form_at(const struct schema *s, size_t i);

/* Return the form of s called name, or NULL. */
const struct schema_form *schema_form_find(const struct schema *s, const char *name);

/* Return the label, help and rules of field f of desc (a message of s), or NULL if desc is
 * not s's. */
const struct schema_field *schema_field(const struct schema *s,
                                        const ProtobufCMessageDescriptor *desc,
                                        const ProtobufCFieldDescriptor *f);

/*
 * Return what a client needs to load form f of s (schema_load): a descriptor set of f's file
 * and the files of s it imports, with their comments and without source positions, so the
 * bytes change only when what a loader reads changes. free() it; its length is in *len. NULL
 * when f is not a form of s, or out of memory.
 */
uint8_t *schema_form_export(const struct schema *s, const struct schema_form *f, size_t *len);

/* Return the rules of field f of desc, a message of the schema ctx (a rules_lookup_fn). */
const struct rules *schema_rules(const void *ctx, const ProtobufCMessageDescriptor *desc,
                                 const ProtobufCFieldDescriptor *f);

#endif
