/* Agreed forms as data: protobuf-c descriptors built at run time from a descriptor set. */
#include "schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "pballoc.h"
#include "pbcheck.h"
#include "pbjson.h"
#include "rules.h"

typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define L(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

#define CHUNK_SIZE       (64u * 1024u)
#define MAX_PACKAGE      128
#define MAX_FIELD_NUMBER 536870911
#define DECODE_PER_BYTE  32 /* descriptor sets are dense: many small nested messages (about 10x) */

/* The arena: every byte a schema owns, freed at once. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

/* A message as loaded: the protobuf-c descriptor first, so a descriptor of ours is one. */
struct smsg {
	ProtobufCMessageDescriptor desc;
	struct schema_field *info; /* parallel to desc.fields */
	const MessageProto *proto; /* while loading only */
	const FileProto *file;     /* while loading only */
	struct smsg **nested;      /* by nested_type index */
	const char *full;          /* ".pkg.Outer.Inner", for type references */
	const char *help;          /* the rest of its leading comment */
	const char *title;
	uint32_t version;
	unsigned depth; /* 1 + deepest message field; 0 while unknown */
	size_t size;    /* its fields and those of the messages it uses, unfolded */
};

struct senum {
	ProtobufCEnumDescriptor desc;
	const EnumProto *proto;
	const FileProto *file;
	const char *full;
};

/* A file of the set as a client gets it: packed alone, and the files of the set it imports. */
struct sfile {
	const char *name;
	uint8_t *packed; /* a FileDescriptorSet of this file only: comments, no positions */
	size_t len;
	size_t *deps; /* indexes in schema.files */
	size_t n_deps;
};

struct schema {
	struct chunk *chunks;
	size_t spent;
	struct sfile *files; /* in the set's order */
	size_t n_files;
	struct smsg **msgs; /* sorted by full name */
	size_t n_msgs;
	struct senum **enums; /* sorted by full name */
	size_t n_enums;
	struct schema_form *forms; /* sorted by name */
	size_t n_forms;
};

struct load {
	struct schema *s;
	struct schema_error *err;
	bool failed;
};

static int refuse(struct load *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct load *ld, const char *fmt, ...)
{
	va_list ap;

	if (!ld->failed) {
		va_start(ap, fmt);
		vsnprintf(ld->err->message, sizeof(ld->err->message), fmt, ap);
		va_end(ap);
		ld->failed = true;
	}
	return -1;
}

static void *arena_alloc(struct load *ld, size_t size)
{
	struct schema *s = ld->s;
	struct chunk *c = s->chunks;
	size_t align = alignof(max_align_t), cap;
	void *p;

	size = (size + align - 1) / align * align;
	if (size > SCHEMA_MAX_MEMORY || s->spent > SCHEMA_MAX_MEMORY - size) {
		refuse(ld, "schema too large: it would take more than %u bytes", SCHEMA_MAX_MEMORY);
		return NULL;
	}
	if (!c || c->cap - c->used < size) {
		cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
		if (!(c = malloc(sizeof(*c) + cap))) {
			refuse(ld, "out of memory");
			return NULL;
		}
		c->next = s->chunks;
		c->used = 0;
		c->cap = cap;
		s->chunks = c;
	}
	p = (char *)c->data + c->used;
	c->used += size;
	s->spent += size;
	memset(p, 0, size);
	return p;
}

/* n elements of size bytes, checking the product. */
static void *arena_array(struct load *ld, size_t n, size_t size)
{
	if (size && n > SCHEMA_MAX_MEMORY / size) {
		refuse(ld, "schema too large: it would take more than %u bytes", SCHEMA_MAX_MEMORY);
		return NULL;
	}
	return arena_alloc(ld, n * size);
}

static char *arena_strndup(struct load *ld, const char *str, size_t n)
{
	char *p = arena_alloc(ld, n + 1);

	if (p)
		memcpy(p, str, n);
	return p;
}

static char *arena_printf(struct load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *arena_printf(struct load *ld, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		refuse(ld, "name too long");
		return NULL;
	}
	return arena_strndup(ld, buf, (size_t)n);
}

/* ---- names and text ---- */

static const char *shown(const char *s);

static const char *file_name(const FileProto *f)
{
	return f->name ? shown(f->name) : "(unnamed file)";
}

/* Say whether file is the rules' definition (there with protoc --include_imports): not a form. */
static bool is_rules_file(const FileProto *f)
{
	return f->name && strcmp(f->name, RULES_FILE) == 0;
}

static bool is_identifier(const char *s)
{
	size_t i;

	if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (i = 1; s[i]; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_') || i >= SCHEMA_MAX_NAME)
			return false;
	return true;
}

static bool is_package(const char *s)
{
	size_t i, start = 0;

	if (!s || !s[0])
		return true;
	for (i = 0;; i++) {
		if (i >= MAX_PACKAGE)
			return false;
		if (s[i] == '.' || s[i] == '\0') {
			char part[SCHEMA_MAX_NAME + 1];

			if (i - start > SCHEMA_MAX_NAME)
				return false;
			memcpy(part, s + start, i - start);
			part[i - start] = '\0';
			if (!is_identifier(part))
				return false;
			if (s[i] == '\0')
				return true;
			start = i + 1;
		}
	}
}

/* Say whether comment text is fit to show people: no control characters but tab and newline,
 * none of Unicode's C1 controls (the input is UTF-8: pbcheck_text checked it). */
static bool is_printable(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return false;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return false;
	}
	return true;
}

/* s as a refusal may show it: input is hostile, and refusals reach terminals and logs. */
static const char *shown(const char *s)
{
	if (!s)
		return "";
	return is_printable(s) && !strpbrk(s, "\n\t") && strlen(s) <= 256 ? s : "(not printable)";
}

/* "date_at_risk" -> "Date at risk"; "HousingSupport" -> "housing_support" is snake_case(). */
static char *in_words(struct load *ld, const char *name)
{
	char *w = arena_strndup(ld, name, strlen(name));
	size_t i;

	if (!w)
		return NULL;
	for (i = 0; w[i]; i++)
		if (w[i] == '_')
			w[i] = ' ';
	w[0] = (char)toupper((unsigned char)w[0]);
	return w;
}

static char *snake_case(struct load *ld, const char *name)
{
	char buf[2 * SCHEMA_MAX_NAME + 1];
	size_t i, n = 0;

	for (i = 0; name[i] && n + 2 < sizeof(buf); i++) {
		if (isupper((unsigned char)name[i])) {
			if (i > 0 && name[i - 1] != '_')
				buf[n++] = '_';
			buf[n++] = (char)tolower((unsigned char)name[i]);
		} else {
			buf[n++] = name[i];
		}
	}
	buf[n] = '\0';
	return arena_strndup(ld, buf, n);
}

struct comment {
	char first[SCHEMA_MAX_LABEL + 1]; /* the first line that is not "version: N" */
	char rest[SCHEMA_MAX_HELP + 1];   /* the other lines, newline-separated */
	uint32_t version;                 /* 0 when there is no version line */
};

static int parse_version(struct load *ld, const char *what, const char *v, uint32_t *out)
{
	char *end;
	unsigned long n;

	while (*v == ' ' || *v == '\t')
		v++;
	errno = 0;
	n = isdigit((unsigned char)*v) ? strtoul(v, &end, 10) : 0;
	if (n == 0 || errno || *end || n > SCHEMA_MAX_VERSION)
		return refuse(ld, "%s: \"version: %.20s\" is not a version number (1 to %d)", what,
		              v, SCHEMA_MAX_VERSION);
	*out = (uint32_t)n;
	return 0;
}

/* Split a leading comment into its first line, a version line and the rest. */
static int parse_comment(struct load *ld, const char *what, const char *text, struct comment *c)
{
	const char *line = text, *nl;
	size_t len, rest = 0;
	char buf[SCHEMA_MAX_HELP + 1];

	memset(c, 0, sizeof(*c));
	if (!text)
		return 0;
	if (strlen(text) > SCHEMA_MAX_HELP || !is_printable(text))
		return refuse(ld,
		              "%s: its comment is longer than %d bytes or holds control characters",
		              what, SCHEMA_MAX_HELP);
	for (; *line; line = nl ? nl + 1 : line + len) {
		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		while (len && isspace((unsigned char)*line))
			line++, len--;
		while (len && isspace((unsigned char)line[len - 1]))
			len--;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (strncmp(buf, "version:", 8) == 0) {
			if (c->version)
				return refuse(ld, "%s: two version lines", what);
			if (parse_version(ld, what, buf + 8, &c->version) < 0)
				return -1;
		} else if (!c->first[0]) {
			if (len > SCHEMA_MAX_LABEL)
				return refuse(ld,
				              "%s: its first comment line is longer than %d bytes",
				              what, SCHEMA_MAX_LABEL);
			memcpy(c->first, buf, len + 1);
		} else if ((len || rest) && rest + len + 1 < sizeof(c->rest)) {
			rest += (size_t)snprintf(c->rest + rest, sizeof(c->rest) - rest, "%s%s",
			                         rest ? "\n" : "", buf);
		}
		if (!nl)
			break;
	}
	while (rest && c->rest[rest - 1] == '\n')
		c->rest[--rest] = '\0';
	return 0;
}

static const char *dup_or_null(struct load *ld, const char *s)
{
	return s && s[0] ? arena_strndup(ld, s, strlen(s)) : NULL;
}

/* ---- collecting messages and enums ---- */

static int add_enum(struct load *ld, const FileProto *file, const EnumProto *ep, const char *scope,
                    struct senum **out)
{
	struct senum *e;

	if (!is_identifier(ep->name))
		return refuse(ld, "%s: enum name \"%.64s\" in %s is not an identifier",
		              file_name(file), shown(ep->name), scope[0] ? scope + 1 : "the file");
	if (ld->s->n_enums >= SCHEMA_MAX_ENUMS)
		return refuse(ld, "%s: more than %d enums", file_name(file), SCHEMA_MAX_ENUMS);
	if (!(e = arena_alloc(ld, sizeof(*e))) ||
	    !(e->full = arena_printf(ld, "%s.%s", scope, ep->name)))
		return -1;
	e->proto = ep;
	e->file = file;
	ld->s->enums[ld->s->n_enums++] = e;
	*out = e;
	return 0;
}

static int add_message(struct load *ld, const FileProto *file, const MessageProto *mp,
                       const char *scope, unsigned level, struct smsg **out);

/* Refuse what a message may not declare: extensions, oneofs, maps, too many fields. */
static int message_refusals(struct load *ld, const FileProto *file, const MessageProto *mp,
                            const char *full)
{
	const char *fn = file_name(file);

	if (mp->n_extension || mp->n_extension_range)
		return refuse(ld, "%s: %s: extensions are not supported", fn, full + 1);
	if (mp->n_oneof_decl)
		return refuse(ld, "%s: %s: oneofs are not supported: use optional fields", fn,
		              full + 1);
	if (mp->options && mp->options->message_set_wire_format)
		return refuse(ld, "%s: %s: message sets are not supported", fn, full + 1);
	if (mp->n_field > SCHEMA_MAX_FIELDS)
		return refuse(ld, "%s: %s: %zu fields, at most %d are supported", fn, full + 1,
		              mp->n_field, SCHEMA_MAX_FIELDS);
	return 0;
}

static int add_message(struct load *ld, const FileProto *file, const MessageProto *mp,
                       const char *scope, unsigned level, struct smsg **out)
{
	struct smsg *m;
	size_t i;

	if (!is_identifier(mp->name))
		return refuse(ld, "%s: message name \"%.64s\" in %s is not an identifier",
		              file_name(file), shown(mp->name), scope[0] ? scope + 1 : "the file");
	if (level > SCHEMA_MAX_DEPTH)
		return refuse(ld, "%s: %s.%s: messages nested deeper than %d are not supported",
		              file_name(file), scope + 1, mp->name, SCHEMA_MAX_DEPTH);
	if (ld->s->n_msgs >= SCHEMA_MAX_MESSAGES)
		return refuse(ld, "%s: more than %d messages", file_name(file),
		              SCHEMA_MAX_MESSAGES);
	if (!(m = arena_alloc(ld, sizeof(*m))) ||
	    !(m->full = arena_printf(ld, "%s.%s", scope, mp->name)))
		return -1;
	if (message_refusals(ld, file, mp, m->full) < 0)
		return -1;
	m->proto = mp;
	m->file = file;
	ld->s->msgs[ld->s->n_msgs++] = m;
	*out = m;
	if (!(m->nested = arena_array(ld, mp->n_nested_type, sizeof(*m->nested))))
		return -1;
	for (i = 0; i < mp->n_nested_type; i++)
		if (add_message(ld, file, mp->nested_type[i], m->full, level + 1, &m->nested[i]) <
		    0)
			return -1;
	for (i = 0; i < mp->n_enum_type; i++) {
		struct senum *e;

		if (add_enum(ld, file, mp->enum_type[i], m->full, &e) < 0)
			return -1;
	}
	return 0;
}

static int add_file(struct load *ld, const FileProto *file)
{
	const char *fn = file_name(file);
	char scope[MAX_PACKAGE + 2];
	struct smsg *m;
	struct senum *e;
	size_t i;

	if (!file->name || !file->name[0] || strcmp(shown(file->name), file->name) != 0)
		return refuse(ld, "a file name is missing, too long or not printable");
	if (file->syntax && file->syntax[0] && strcmp(file->syntax, "proto2") != 0)
		return refuse(ld,
		              "%s: syntax \"%.16s\" is not supported: write syntax = \"proto2\"",
		              fn, shown(file->syntax));
	if (file->n_extension)
		return refuse(ld, "%s: extensions are not supported", fn);
	for (i = 0; i < file->n_dependency; i++)
		if (!file->dependency[i] || strcmp(file->dependency[i], RULES_FILE) != 0)
			return refuse(ld,
			              "%s: imports \"%.64s\": a form may import only \"%s\" (its "
			              "rules); put what it needs in the form file",
			              fn, shown(file->dependency[i]), RULES_FILE);
	if (file->n_public_dependency || file->n_weak_dependency)
		return refuse(ld, "%s: import public and import weak are not supported", fn);
	if (file->n_service)
		return refuse(ld, "%s: services are not forms: remove them", fn);
	if (!is_package(file->package))
		return refuse(ld, "%s: package \"%.64s\" is not a dotted name", fn,
		              shown(file->package));
	snprintf(scope, sizeof(scope), "%s%s", file->package && file->package[0] ? "." : "",
	         file->package ? file->package : "");
	for (i = 0; i < file->n_message_type; i++)
		if (add_message(ld, file, file->message_type[i], scope, 1, &m) < 0)
			return -1;
	for (i = 0; i < file->n_enum_type; i++)
		if (add_enum(ld, file, file->enum_type[i], scope, &e) < 0)
			return -1;
	return 0;
}

static int by_full_msg(const void *a, const void *b)
{
	return strcmp((*(struct smsg *const *)a)->full, (*(struct smsg *const *)b)->full);
}

static int by_full_enum(const void *a, const void *b)
{
	return strcmp((*(struct senum *const *)a)->full, (*(struct senum *const *)b)->full);
}

static struct smsg *find_msg(const struct schema *s, const char *full)
{
	struct smsg key = {.full = full}, *k = &key, **hit;

	hit = bsearch(&k, s->msgs, s->n_msgs, sizeof(*s->msgs), by_full_msg);
	return hit ? *hit : NULL;
}

static struct senum *find_enum(const struct schema *s, const char *full)
{
	struct senum key = {.full = full}, *k = &key, **hit;

	hit = bsearch(&k, s->enums, s->n_enums, sizeof(*s->enums), by_full_enum);
	return hit ? *hit : NULL;
}

/* Sort the type tables and refuse a name given twice (or to a message and an enum). */
static int index_types(struct load *ld)
{
	struct schema *s = ld->s;
	size_t i;

	qsort(s->msgs, s->n_msgs, sizeof(*s->msgs), by_full_msg);
	qsort(s->enums, s->n_enums, sizeof(*s->enums), by_full_enum);
	for (i = 1; i < s->n_msgs; i++)
		if (strcmp(s->msgs[i - 1]->full, s->msgs[i]->full) == 0)
			return refuse(ld, "%s: message %s is defined twice",
			              file_name(s->msgs[i]->file), s->msgs[i]->full + 1);
	for (i = 1; i < s->n_enums; i++)
		if (strcmp(s->enums[i - 1]->full, s->enums[i]->full) == 0)
			return refuse(ld, "%s: enum %s is defined twice",
			              file_name(s->enums[i]->file), s->enums[i]->full + 1);
	for (i = 0; i < s->n_enums; i++)
		if (find_msg(s, s->enums[i]->full))
			return refuse(ld, "%s: %s is both a message and an enum",
			              file_name(s->enums[i]->file), s->enums[i]->full + 1);
	return 0;
}

/* ---- enums ---- */

static int by_value(const void *a, const void *b)
{
	int x = ((const ProtobufCEnumValue *)a)->value, y = ((const ProtobufCEnumValue *)b)->value;

	return (x > y) - (x < y);
}

static int by_value_name(const void *a, const void *b)
{
	return strcmp(((const ProtobufCEnumValueIndex *)a)->name,
	              ((const ProtobufCEnumValueIndex *)b)->name);
}

/* Fill ranges (n_ranges + 1 entries, the last {0, n}) for sorted numbers; return n_ranges. */
static unsigned count_ranges(const int *numbers, size_t n)
{
	unsigned r = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (i == 0 || numbers[i] != numbers[i - 1] + 1)
			r++;
	return r;
}

static ProtobufCIntRange *make_ranges(struct load *ld, const int *numbers, size_t n,
                                      unsigned *n_ranges)
{
	ProtobufCIntRange *r;
	unsigned k = 0;
	size_t i;

	*n_ranges = count_ranges(numbers, n);
	if (!(r = arena_array(ld, *n_ranges + 1, sizeof(*r))))
		return NULL;
	for (i = 0; i < n; i++)
		if (i == 0 || numbers[i] != numbers[i - 1] + 1)
			r[k++] = (ProtobufCIntRange){numbers[i], (int)i};
	r[k] = (ProtobufCIntRange){0, (int)n};
	return r;
}

static int build_enum_values(struct load *ld, struct senum *e, ProtobufCEnumValue *v,
                             ProtobufCEnumValueIndex *by_name, int *numbers)
{
	const EnumProto *ep = e->proto;
	const char *fn = file_name(e->file);
	size_t i, n = ep->n_value;

	for (i = 0; i < n; i++) {
		if (!is_identifier(ep->value[i]->name) || !ep->value[i]->has_number)
			return refuse(ld, "%s: %s: value \"%.64s\" has a bad name or no number", fn,
			              e->full + 1, shown(ep->value[i]->name));
		if (!(v[i].name =
		          arena_strndup(ld, ep->value[i]->name, strlen(ep->value[i]->name))))
			return -1;
		v[i].c_name = v[i].name;
		v[i].value = ep->value[i]->number;
		/* protobuf-c's range lookup adds to a value: keep clear of int overflow. */
		if (v[i].value < -SCHEMA_MAX_ENUM_NUMBER || v[i].value > SCHEMA_MAX_ENUM_NUMBER)
			return refuse(ld, "%s: %s: value %s is %d: enum numbers are from -%d to %d",
			              fn, e->full + 1, v[i].name, v[i].value,
			              SCHEMA_MAX_ENUM_NUMBER, SCHEMA_MAX_ENUM_NUMBER);
	}
	qsort(v, n, sizeof(*v), by_value);
	for (i = 0; i < n; i++) {
		numbers[i] = v[i].value;
		by_name[i] = (ProtobufCEnumValueIndex){v[i].name, (unsigned)i};
		if (i > 0 && v[i].value == v[i - 1].value)
			return refuse(ld,
			              "%s: %s: %s and %s share the number %d: aliases are not "
			              "supported",
			              fn, e->full + 1, v[i - 1].name, v[i].name, v[i].value);
	}
	qsort(by_name, n, sizeof(*by_name), by_value_name);
	for (i = 1; i < n; i++)
		if (strcmp(by_name[i - 1].name, by_name[i].name) == 0)
			return refuse(ld, "%s: %s: value %s is defined twice", fn, e->full + 1,
			              by_name[i].name);
	return 0;
}

/* Copy file's package name ("" when it has none) into the arena; NULL when out of memory. */
static const char *package_of(struct load *ld, const FileProto *file)
{
	const char *p = file->package ? file->package : "";

	return arena_strndup(ld, p, strlen(p));
}

static int build_enum(struct load *ld, struct senum *e)
{
	const EnumProto *ep = e->proto;
	ProtobufCEnumDescriptor *d = &e->desc;
	ProtobufCEnumValue *v;
	ProtobufCEnumValueIndex *by_name;
	int *numbers;
	size_t n = ep->n_value;

	if (n == 0 || n > SCHEMA_MAX_ENUM_VALUES)
		return refuse(ld, "%s: %s: an enum needs 1 to %d values", file_name(e->file),
		              e->full + 1, SCHEMA_MAX_ENUM_VALUES);
	if (!(v = arena_array(ld, n, sizeof(*v))) ||
	    !(by_name = arena_array(ld, n, sizeof(*by_name))) ||
	    !(numbers = arena_array(ld, n, sizeof(*numbers))) ||
	    build_enum_values(ld, e, v, by_name, numbers) < 0)
		return -1;
	d->magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC;
	d->name = e->full + 1;
	d->short_name = strrchr(e->full, '.') + 1;
	d->c_name = d->name;
	d->package_name = package_of(ld, e->file);
	d->n_values = (unsigned)n;
	d->values = v;
	d->n_value_names = (unsigned)n;
	d->values_by_name = by_name;
	if (!d->package_name)
		return -1;
	return (d->value_ranges = make_ranges(ld, numbers, n, &d->n_value_ranges)) ? 0 : -1;
}

/* ---- fields ---- */

struct slot {
	size_t size, align;
};

static int field_type(ProtobufCType *out, int type)
{
	static const struct {
		int proto;
		ProtobufCType c;
	} map[] = {
	    {T(DOUBLE), PROTOBUF_C_TYPE_DOUBLE},     {T(FLOAT), PROTOBUF_C_TYPE_FLOAT},
	    {T(INT64), PROTOBUF_C_TYPE_INT64},       {T(UINT64), PROTOBUF_C_TYPE_UINT64},
	    {T(INT32), PROTOBUF_C_TYPE_INT32},       {T(FIXED64), PROTOBUF_C_TYPE_FIXED64},
	    {T(FIXED32), PROTOBUF_C_TYPE_FIXED32},   {T(BOOL), PROTOBUF_C_TYPE_BOOL},
	    {T(STRING), PROTOBUF_C_TYPE_STRING},     {T(MESSAGE), PROTOBUF_C_TYPE_MESSAGE},
	    {T(BYTES), PROTOBUF_C_TYPE_BYTES},       {T(UINT32), PROTOBUF_C_TYPE_UINT32},
	    {T(ENUM), PROTOBUF_C_TYPE_ENUM},         {T(SFIXED32), PROTOBUF_C_TYPE_SFIXED32},
	    {T(SFIXED64), PROTOBUF_C_TYPE_SFIXED64}, {T(SINT32), PROTOBUF_C_TYPE_SINT32},
	    {T(SINT64), PROTOBUF_C_TYPE_SINT64},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].proto == type) {
			*out = map[i].c;
			return 0;
		}
	return -1;
}

/* The C member protoc-c generates for one value of type t. */
static struct slot value_slot(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return (struct slot){sizeof(uint64_t), alignof(uint64_t)};
	case PROTOBUF_C_TYPE_DOUBLE:
		return (struct slot){sizeof(double), alignof(double)};
	case PROTOBUF_C_TYPE_FLOAT:
		return (struct slot){sizeof(float), alignof(float)};
	case PROTOBUF_C_TYPE_BOOL:
		return (struct slot){sizeof(protobuf_c_boolean), alignof(protobuf_c_boolean)};
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return (struct slot){sizeof(void *), alignof(void *)};
	case PROTOBUF_C_TYPE_BYTES:
		return (struct slot){sizeof(ProtobufCBinaryData), alignof(ProtobufCBinaryData)};
	default: /* 32-bit numbers and enums (protoc-c forces enums to int size) */
		return (struct slot){sizeof(int32_t), alignof(int32_t)};
	}
}

/* Place a member of slot sl after *end; return its offset. */
static unsigned place(size_t *end, size_t *max_align, struct slot sl)
{
	size_t off = (*end + sl.align - 1) / sl.align * sl.align;

	*end = off + sl.size;
	if (sl.align > *max_align)
		*max_align = sl.align;
	return (unsigned)off;
}

/* Lay out f's members as protoc-c does: n_x + x for repeated, has_x + x for optional values
 * that are not pointers, x alone otherwise. */
static void lay_out(ProtobufCFieldDescriptor *f, size_t *end, size_t *max_align)
{
	const struct slot ptr = {sizeof(void *), alignof(void *)};

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		f->quantifier_offset =
		    place(end, max_align, (struct slot){sizeof(size_t), alignof(size_t)});
		f->offset = place(end, max_align, ptr);
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	           f->type != PROTOBUF_C_TYPE_MESSAGE) {
		f->quantifier_offset = place(end, max_align, value_slot(PROTOBUF_C_TYPE_BOOL));
		f->offset = place(end, max_align, value_slot(f->type));
	} else {
		f->offset = place(end, max_align, value_slot(f->type));
	}
}

static int parse_number_default(struct load *ld, const char *what, ProtobufCType t,
                                const char *text, void *out)
{
	char *end = NULL;
	long long sv = 0;
	unsigned long long uv = 0;
	double dv = 0;

	errno = 0;
	switch (t) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		dv = strtod(text, &end);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (text[0] == '-')
			errno = ERANGE;
		else
			uv = strtoull(text, &end, 0);
		break;
	default:
		sv = strtoll(text, &end, 0);
	}
	if (errno || !end || end == text || *end)
		return refuse(ld, "%s: default \"%.32s\" is not a number of its type", what,
		              shown(text));
	switch (t) {
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)out = (float)dv;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)out = dv;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (uv > UINT32_MAX)
			break;
		*(uint32_t *)out = (uint32_t)uv;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)out = uv;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)out = sv;
		return 0;
	default:
		if (sv < INT32_MIN || sv > INT32_MAX)
			break;
		*(int32_t *)out = (int32_t)sv;
		return 0;
	}
	return refuse(ld, "%s: default \"%.32s\" is out of range for its type", what, shown(text));
}

/* Set f->default_value from the text protoc wrote ([default = ...] on an optional field). */
static int set_default(struct load *ld, const char *what, ProtobufCFieldDescriptor *f,
                       const char *text)
{
	struct slot sl;
	void *v;

	if (!text)
		return 0;
	if (f->label != PROTOBUF_C_LABEL_OPTIONAL || f->type == PROTOBUF_C_TYPE_BYTES ||
	    f->type == PROTOBUF_C_TYPE_MESSAGE)
		return refuse(ld,
		              "%s: a default is supported on optional numbers, bools, enums and "
		              "strings only",
		              what);
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		if (strlen(text) > SCHEMA_MAX_HELP || !is_printable(text))
			return refuse(ld, "%s: default too long or holds control characters", what);
		return (f->default_value = arena_strndup(ld, text, strlen(text))) ? 0 : -1;
	}
	sl = value_slot(f->type);
	if (!(v = arena_alloc(ld, sl.size)))
		return -1;
	f->default_value = v;
	if (f->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return refuse(ld, "%s: default \"%.32s\" is not true or false", what,
			              shown(text));
		*(protobuf_c_boolean *)v = strcmp(text, "true") == 0;
		return 0;
	}
	if (f->type == PROTOBUF_C_TYPE_ENUM) {
		const ProtobufCEnumValue *ev = NULL;
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		unsigned i;

		for (i = 0; i < ed->n_values && !ev; i++)
			if (strcmp(ed->values[i].name, text) == 0)
				ev = &ed->values[i];
		if (!ev)
			return refuse(ld, "%s: default \"%.64s\" is not a value of %s", what,
			              shown(text), ed->name);
		*(int32_t *)v = ev->value;
		return 0;
	}
	return parse_number_default(ld, what, f->type, text, v);
}

/* Point f at the message or enum its type names. */
static int resolve_type(struct load *ld, const char *what, ProtobufCFieldDescriptor *f,
                        const char *type_name)
{
	struct smsg *m;
	struct senum *e;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_ENUM)
		return 0;
	if (!type_name)
		return refuse(ld, "%s: no type name", what);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (!(m = find_msg(ld->s, type_name)))
			return refuse(ld, "%s: unknown message type %s", what, shown(type_name));
		f->descriptor = &m->desc;
	} else {
		if (!(e = find_enum(ld->s, type_name)))
			return refuse(ld, "%s: unknown enum type %s", what, shown(type_name));
		f->descriptor = &e->desc;
	}
	return 0;
}

static int check_field(struct load *ld, const char *what, const FieldProto *fp)
{
	char json[PBJSON_NAME_CAP];

	if (!is_identifier(fp->name))
		return refuse(ld, "%s: the field name is not an identifier", what);
	if (!fp->has_number || fp->number < 1 || fp->number > MAX_FIELD_NUMBER ||
	    (fp->number >= 19000 && fp->number <= 19999))
		return refuse(ld, "%s: bad field number", what);
	if (fp->has_oneof_index || fp->proto3_optional)
		return refuse(ld, "%s: oneofs are not supported: use optional fields", what);
	if (fp->extendee)
		return refuse(ld, "%s: extensions are not supported", what);
	if (fp->has_type && fp->type == T(GROUP))
		return refuse(ld, "%s: groups are not supported: use a nested message", what);
	if (!fp->has_label || !fp->has_type)
		return refuse(ld, "%s: no label or no type", what);
	pbjson_json_name(fp->name, json);
	if (fp->json_name && strcmp(fp->json_name, json) != 0)
		return refuse(ld, "%s: json_name is not supported (the JSON name is %s)", what,
		              json);
	return 0;
}

static int build_field(struct load *ld, struct smsg *m, const FieldProto *fp,
                       ProtobufCFieldDescriptor *f)
{
	char what[300];
	const struct smsg *target;

	snprintf(what, sizeof(what), "%s: %s.%s", file_name(m->file), m->full + 1, shown(fp->name));
	if (check_field(ld, what, fp) < 0)
		return -1;
	if (field_type(&f->type, fp->type) < 0)
		return refuse(ld, "%s: unknown field type %d", what, fp->type);
	switch (fp->label) {
	case L(OPTIONAL):
		f->label = PROTOBUF_C_LABEL_OPTIONAL;
		break;
	case L(REQUIRED):
		f->label = PROTOBUF_C_LABEL_REQUIRED;
		break;
	case L(REPEATED):
		f->label = PROTOBUF_C_LABEL_REPEATED;
		break;
	default:
		return refuse(ld, "%s: unknown label %d", what, fp->label);
	}
	if (!(f->name = arena_strndup(ld, fp->name, strlen(fp->name))))
		return -1;
	f->id = (uint32_t)fp->number;
	if (fp->options && fp->options->deprecated)
		f->flags |= PROTOBUF_C_FIELD_FLAG_DEPRECATED;
	if (resolve_type(ld, what, f, fp->type_name) < 0)
		return -1;
	/* protoc allows packed only on repeated numbers and enums; protobuf-c aborts packing a
	 * packed string, bytes or message field, which a forged set could ask for. */
	if (fp->options && fp->options->packed && f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
		    f->type == PROTOBUF_C_TYPE_MESSAGE)
			return refuse(ld, "%s: only numbers and enums can be packed", what);
		f->flags |= PROTOBUF_C_FIELD_FLAG_PACKED;
	}
	target = f->type == PROTOBUF_C_TYPE_MESSAGE ? (const struct smsg *)f->descriptor : NULL;
	if (target && target->proto->options && target->proto->options->map_entry)
		return refuse(ld, "%s: maps are not supported: use a repeated message", what);
	return set_default(ld, what, f, fp->default_value);
}

static int by_id(const void *a, const void *b)
{
	uint32_t x = ((const ProtobufCFieldDescriptor *)a)->id;
	uint32_t y = ((const ProtobufCFieldDescriptor *)b)->id;

	return (x > y) - (x < y);
}

struct named {
	const char *name;
	unsigned index;
};

static int by_field_name(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static int by_json_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Index fields (sorted by number) by name, and refuse a number, name or JSON name used twice. */
static int index_fields(struct load *ld, struct smsg *m, ProtobufCFieldDescriptor *f, size_t n,
                        unsigned *by_name, int *numbers)
{
	char(*json)[PBJSON_NAME_CAP];
	struct named *names;
	size_t i;

	if (!(json = arena_array(ld, n, sizeof(*json))) ||
	    !(names = arena_array(ld, n, sizeof(*names))))
		return -1;
	for (i = 0; i < n; i++) {
		numbers[i] = (int)f[i].id;
		names[i] = (struct named){f[i].name, (unsigned)i};
		if (i > 0 && f[i].id == f[i - 1].id)
			return refuse(ld, "%s: %s: %s and %s share the number %u",
			              file_name(m->file), m->full + 1, f[i - 1].name, f[i].name,
			              f[i].id);
	}
	qsort(names, n, sizeof(*names), by_field_name);
	for (i = 0; i < n; i++) {
		by_name[i] = names[i].index;
		if (i > 0 && strcmp(names[i - 1].name, names[i].name) == 0)
			return refuse(ld, "%s: %s: field %s is defined twice", file_name(m->file),
			              m->full + 1, names[i].name);
	}
	for (i = 0; i < n; i++)
		pbjson_json_name(f[i].name, json[i]);
	qsort(json, n, sizeof(*json), by_json_name);
	for (i = 1; i < n; i++)
		if (strcmp(json[i - 1], json[i]) == 0)
			return refuse(ld, "%s: %s: two fields are both %s in JSON",
			              file_name(m->file), m->full + 1, json[i]);
	return 0;
}

static int build_message(struct load *ld, struct smsg *m)
{
	const MessageProto *mp = m->proto;
	ProtobufCMessageDescriptor *d = &m->desc;
	ProtobufCFieldDescriptor *f;
	size_t i, n = mp->n_field, end = sizeof(ProtobufCMessage);
	size_t max_align = alignof(ProtobufCMessage);
	unsigned *by_name;
	int *numbers;

	/* A map's field is refused by name first (build_field): its entry sorts after it. */
	if (mp->options && mp->options->map_entry)
		return refuse(ld, "%s: %s: maps are not supported: use a repeated message",
		              file_name(m->file), m->full + 1);
	if (!(f = arena_array(ld, n, sizeof(*f))) ||
	    !(by_name = arena_array(ld, n, sizeof(*by_name))) ||
	    !(numbers = arena_array(ld, n, sizeof(*numbers))) ||
	    !(m->info = arena_array(ld, n, sizeof(*m->info))))
		return -1;
	/* Members in declaration order, as protoc-c writes the struct. */
	for (i = 0; i < n; i++) {
		if (build_field(ld, m, mp->field[i], &f[i]) < 0)
			return -1;
		lay_out(&f[i], &end, &max_align);
	}
	qsort(f, n, sizeof(*f), by_id);
	if (index_fields(ld, m, f, n, by_name, numbers) < 0)
		return -1;
	d->magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
	d->name = m->full + 1;
	d->short_name = strrchr(m->full, '.') + 1;
	d->c_name = d->name;
	d->package_name = package_of(ld, m->file);
	d->sizeof_message = (end + max_align - 1) / max_align * max_align;
	d->n_fields = (unsigned)n;
	d->fields = f;
	d->fields_sorted_by_name = by_name;
	d->message_init = NULL;
	if (!d->package_name)
		return -1;
	return (d->field_ranges = make_ranges(ld, numbers, n, &d->n_field_ranges)) ? 0 : -1;
}

/* Settle m's depth and size if every message it uses is settled; refuse it if too big. */
static int settle(struct load *ld, struct smsg *m, bool *settled)
{
	unsigned j, deepest = 0;
	size_t size = m->desc.n_fields;

	*settled = false;
	for (j = 0; j < m->desc.n_fields; j++) {
		const ProtobufCFieldDescriptor *f = &m->desc.fields[j];
		const struct smsg *t = f->descriptor;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (t->depth == 0)
			return 0;
		deepest = t->depth > deepest ? t->depth : deepest;
		size += t->size; /* each at most SCHEMA_MAX_FORM_FIELDS: no overflow */
	}
	m->depth = deepest + 1;
	m->size = size;
	*settled = true;
	if (m->depth > SCHEMA_MAX_DEPTH)
		return refuse(ld, "%s: %s: messages nested deeper than %d are not supported",
		              file_name(m->file), m->full + 1, SCHEMA_MAX_DEPTH);
	if (m->size > SCHEMA_MAX_FORM_FIELDS)
		return refuse(ld,
		              "%s: %s: %zu fields counting those of nested messages, at most %d",
		              file_name(m->file), m->full + 1, m->size, SCHEMA_MAX_FORM_FIELDS);
	return 0;
}

/* Give each message its depth (1 + its deepest message field) and size (its fields and those
 * of the messages it uses, as a form or its JSON template unfolds them); refuse a message that
 * contains itself, directly or through others, one nested deeper than SCHEMA_MAX_DEPTH and one
 * too big. Rounds of a fixed point, no recursion: a round that settles nothing leaves cycles. */
static int check_depths(struct load *ld)
{
	struct schema *s = ld->s;
	bool progress = true, settled;
	size_t i, left = s->n_msgs;

	while (left && progress) {
		progress = false;
		for (i = 0; i < s->n_msgs; i++) {
			if (s->msgs[i]->depth != 0)
				continue;
			if (settle(ld, s->msgs[i], &settled) < 0)
				return -1;
			if (settled) {
				left--;
				progress = true;
			}
		}
	}
	for (i = 0; i < s->n_msgs; i++)
		if (s->msgs[i]->depth == 0)
			return refuse(
			    ld,
			    "%s: %s contains itself (directly or through another message): "
			    "recursive messages are not supported",
			    file_name(s->msgs[i]->file), s->msgs[i]->full + 1);
	return 0;
}

/* ---- rules ---- */

/* Gather the payloads of every (refex.rules.rule) occurrence in opts into buf (protoc writes
 * one per setting, e.g. a date and a text rule on one field; concatenated they merge). */
static int rule_bytes(struct load *ld, const char *what, const Google__Protobuf__FieldOptions *opts,
                      uint8_t *buf, size_t *len)
{
	size_t i, k, hdr;
	uint64_t n;

	*len = 0;
	for (i = 0; opts && i < opts->base.n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &opts->base.unknown_fields[i];

		if (u->tag != RULES_FIELD_NUMBER)
			continue;
		/* The data is the length prefix (a varint) and the payload. */
		for (n = 0, hdr = 0; hdr < u->len && hdr < 5; hdr++) {
			n |= (uint64_t)(u->data[hdr] & 0x7f) << (7 * hdr);
			if (!(u->data[hdr] & 0x80))
				break;
		}
		k = u->len - hdr - 1;
		if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED || hdr >= u->len ||
		    hdr >= 5 || n != k)
			return refuse(ld, "%s: its rule is not a refex.rules.FieldRules", what);
		if (k > RULES_MAX_BYTES - *len)
			return refuse(ld, "%s: its rule is larger than %d bytes", what,
			              RULES_MAX_BYTES);
		memcpy(buf + *len, u->data + hdr + 1, k);
		*len += k;
	}
	return 0;
}

/* Read field fp's rule, if it has one, check that it fits, and give it to m's field. */
static int rule_for_field(struct load *ld, struct smsg *m, const FieldProto *fp)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&m->desc, (unsigned)fp->number);
	uint8_t buf[RULES_MAX_BYTES];
	struct rules r, *copy;
	char what[300], why[200];
	size_t len;

	snprintf(what, sizeof(what), "%s: %s.%s", file_name(m->file), m->full + 1, shown(fp->name));
	if (rule_bytes(ld, what, fp->options, buf, &len) < 0)
		return -1;
	if (!f || !fp->options || len == 0)
		return 0;
	if (rules_parse(buf, len, &r, why, sizeof(why)) < 0 ||
	    rules_fit(&r, f, why, sizeof(why)) < 0)
		return refuse(ld, "%s: %s", what, why);
	if (!(copy = arena_alloc(ld, sizeof(*copy))))
		return -1;
	*copy = r;
	m->info[f - m->desc.fields].rules = copy;
	return 0;
}

/* Give every field its rules (after the fields are sorted and their types resolved). */
static int attach_rules(struct load *ld)
{
	size_t i, j;

	for (i = 0; i < ld->s->n_msgs; i++)
		for (j = 0; j < ld->s->msgs[i]->proto->n_field; j++)
			if (rule_for_field(ld, ld->s->msgs[i], ld->s->msgs[i]->proto->field[j]) < 0)
				return -1;
	return 0;
}

/* ---- comments ---- */

/* Find the message of file at path [4, i, (3, k)...]; return how many path entries it took. */
static size_t path_message(const struct schema *s, const FileProto *file, const int32_t *path,
                           size_t n, struct smsg **out)
{
	const MessageProto *mp;
	struct smsg *m;
	size_t used = 2;
	char full[MAX_PACKAGE + 2 + (SCHEMA_MAX_NAME + 1) * SCHEMA_MAX_DEPTH + 1];

	if (n < 2 || path[0] != 4 || path[1] < 0 || (size_t)path[1] >= file->n_message_type)
		return 0;
	mp = file->message_type[path[1]];
	snprintf(full, sizeof(full), "%s%s.%s", file->package && file->package[0] ? "." : "",
	         file->package ? file->package : "", mp->name);
	if (!(m = find_msg(s, full)) || m->proto != mp)
		return 0;
	while (used + 2 <= n && path[used] == 3) {
		if (path[used + 1] < 0 || (size_t)path[used + 1] >= m->proto->n_nested_type)
			return 0;
		m = m->nested[path[used + 1]];
		used += 2;
	}
	*out = m;
	return used;
}

static int comment_for_field(struct load *ld, struct smsg *m, size_t decl, const char *lead,
                             const char *trail)
{
	const FieldProto *fp = m->proto->field[decl];
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&m->desc, (unsigned)fp->number);
	struct schema_field *info;
	struct comment c;
	char what[300];

	if (!f)
		return 0;
	info = &m->info[f - m->desc.fields];
	snprintf(what, sizeof(what), "%s: %s.%s", file_name(m->file), m->full + 1, f->name);
	if (lead) {
		if (parse_comment(ld, what, lead, &c) < 0)
			return -1;
		if (c.version)
			return refuse(ld, "%s: a version line belongs on a form, not a field",
			              what);
		if (c.first[0] && !(info->label = arena_strndup(ld, c.first, strlen(c.first))))
			return -1;
		if (c.rest[0] && !(info->help = arena_strndup(ld, c.rest, strlen(c.rest))))
			return -1;
	}
	if (trail && !info->help) {
		if (parse_comment(ld, what, trail, &c) < 0)
			return -1;
		if (c.first[0] && !(info->help = arena_strndup(ld, c.first, strlen(c.first))))
			return -1;
	}
	return 0;
}

static int comment_for_message(struct load *ld, struct smsg *m, const char *lead)
{
	struct comment c;
	char what[300];

	snprintf(what, sizeof(what), "%s: %s", file_name(m->file), m->full + 1);
	if (parse_comment(ld, what, lead, &c) < 0)
		return -1;
	m->version = c.version;
	m->title = dup_or_null(ld, c.first);
	m->help = dup_or_null(ld, c.rest);
	return ld->failed ? -1 : 0;
}

/* Attach one source location's comments to the message or field it describes. */
static int attach_location(struct load *ld, const FileProto *file,
                           const Google__Protobuf__SourceCodeInfo__Location *loc)
{
	struct smsg *m;
	size_t used;

	if (!loc->leading_comments && !loc->trailing_comments)
		return 0;
	if (!(used = path_message(ld->s, file, loc->path, loc->n_path, &m)))
		return 0;
	if (used == loc->n_path)
		return comment_for_message(ld, m, loc->leading_comments);
	if (used + 2 == loc->n_path && loc->path[used] == 2 && loc->path[used + 1] >= 0 &&
	    (size_t)loc->path[used + 1] < m->proto->n_field)
		return comment_for_field(ld, m, (size_t)loc->path[used + 1], loc->leading_comments,
		                         loc->trailing_comments);
	return 0;
}

static int attach_comments(struct load *ld, const Google__Protobuf__FileDescriptorSet *set)
{
	size_t i, j;

	for (i = 0; i < set->n_file; i++) {
		const FileProto *file = set->file[i];

		if (!file->source_code_info || is_rules_file(file))
			continue;
		for (j = 0; j < file->source_code_info->n_location; j++)
			if (attach_location(ld, file, file->source_code_info->location[j]) < 0)
				return -1;
	}
	for (i = 0; i < ld->s->n_msgs; i++) {
		struct smsg *m = ld->s->msgs[i];

		for (j = 0; j < m->desc.n_fields; j++)
			if (!m->info[j].label &&
			    !(m->info[j].label = in_words(ld, m->desc.fields[j].name)))
				return -1;
	}
	return 0;
}

/* ---- forms ---- */

static int by_form_name(const void *a, const void *b)
{
	return strcmp(((const struct schema_form *)a)->name, ((const struct schema_form *)b)->name);
}

static int add_form(struct load *ld, struct smsg *m, struct schema_form *form)
{
	form->desc = &m->desc;
	form->file = m->file->name ? arena_strndup(ld, m->file->name, strlen(m->file->name)) : "";
	if (!form->file || !(form->name = snake_case(ld, m->desc.short_name)))
		return -1;
	if (!isalpha((unsigned char)form->name[0]))
		return refuse(ld, "%s: %s: a form's name must begin with a letter",
		              file_name(m->file), m->full + 1);
	form->title = m->title ? m->title : in_words(ld, form->name);
	form->help = m->help;
	form->version = m->version ? m->version : 1;
	return form->title ? 0 : -1;
}

static int collect_forms(struct load *ld, const Google__Protobuf__FileDescriptorSet *set)
{
	struct schema *s = ld->s;
	size_t i, j, n = 0;

	for (i = 0; i < set->n_file; i++)
		n += is_rules_file(set->file[i]) ? 0 : set->file[i]->n_message_type;
	if (n == 0)
		return refuse(ld, "no forms: the files define no message");
	if (!(s->forms = arena_array(ld, n, sizeof(*s->forms))))
		return -1;
	for (i = 0; i < set->n_file; i++) {
		const FileProto *file = set->file[i];

		for (j = 0; j < file->n_message_type && !is_rules_file(file); j++) {
			struct smsg *m;

			if (!path_message(s, file, (const int32_t[]){4, (int32_t)j}, 2, &m))
				return refuse(ld, "%s: message %zu not found", file_name(file), j);
			if (add_form(ld, m, &s->forms[s->n_forms++]) < 0)
				return -1;
		}
	}
	qsort(s->forms, s->n_forms, sizeof(*s->forms), by_form_name);
	for (i = 1; i < s->n_forms; i++)
		if (strcmp(s->forms[i - 1].name, s->forms[i].name) == 0)
			return refuse(ld, "%s: form %s is defined twice (also in %s)",
			              s->forms[i].file, s->forms[i].name, s->forms[i - 1].file);
	return 0;
}

/* ---- what a client gets ---- */

typedef Google__Protobuf__SourceCodeInfo__Location Location;

/* Pack file alone, keeping only the source locations that carry comments, without their
 * positions: what a loader reads (labels, help, versions), and bytes that stay the same when
 * only the layout of the .proto file changes. */
static int pack_file(struct load *ld, const FileProto *file, struct sfile *out)
{
	const Google__Protobuf__SourceCodeInfo *info = file->source_code_info;
	Google__Protobuf__SourceCodeInfo kept = GOOGLE__PROTOBUF__SOURCE_CODE_INFO__INIT;
	Google__Protobuf__FileDescriptorSet one = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
	size_t n = info ? info->n_location : 0, i;
	Location *locs = calloc(n ? n : 1, sizeof(*locs));
	Location **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	FileProto copy = *file;
	FileProto *files[1] = {&copy};

	if (!locs || !ptrs) {
		free(locs);
		free(ptrs);
		return refuse(ld, "out of memory");
	}
	for (i = 0; i < n; i++) {
		const Location *loc = info->location[i];

		if (!loc->leading_comments && !loc->trailing_comments)
			continue;
		locs[kept.n_location] = *loc;
		locs[kept.n_location].n_span = 0;
		locs[kept.n_location].n_leading_detached_comments = 0;
		ptrs[kept.n_location] = &locs[kept.n_location];
		kept.n_location++;
	}
	kept.location = ptrs;
	copy.source_code_info = kept.n_location ? &kept : NULL;
	one.n_file = 1;
	one.file = files;
	out->len = protobuf_c_message_get_packed_size(&one.base);
	if ((out->packed = arena_alloc(ld, out->len ? out->len : 1)) != NULL)
		protobuf_c_message_pack(&one.base, out->packed);
	free(locs);
	free(ptrs);
	return out->packed ? 0 : -1;
}

static int link_file(struct load *ld, const Google__Protobuf__FileDescriptorSet *set, size_t i)
{
	const FileProto *file = set->file[i];
	struct sfile *sf = &ld->s->files[i];
	size_t d, j;

	if (!(sf->name = arena_strndup(ld, file->name, strlen(file->name))) ||
	    !(sf->deps = arena_array(ld, file->n_dependency + 1, sizeof(*sf->deps))))
		return -1;
	for (d = 0; d < file->n_dependency; d++)
		for (j = 0; j < set->n_file; j++)
			if (j != i && strcmp(set->file[j]->name, file->dependency[d]) == 0) {
				sf->deps[sf->n_deps++] = j;
				break;
			}
	return pack_file(ld, file, sf);
}

static int pack_files(struct load *ld, const Google__Protobuf__FileDescriptorSet *set)
{
	size_t i;

	if (!(ld->s->files = arena_array(ld, set->n_file, sizeof(*ld->s->files))))
		return -1;
	ld->s->n_files = set->n_file;
	for (i = 0; i < set->n_file; i++)
		if (link_file(ld, set, i) < 0)
			return -1;
	return 0;
}

/* ---- loading ---- */

/* Decode the set, refusing what protobuf-c should not be asked to decode. */
static Google__Protobuf__FileDescriptorSet *decode(struct load *ld, const uint8_t *data, size_t len)
{
	const ProtobufCMessageDescriptor *d = &google__protobuf__file_descriptor_set__descriptor;
	struct pbcheck_result res;
	struct pballoc budget;
	ProtobufCMessage *msg;

	if (len > SCHEMA_MAX_BYTES) {
		refuse(ld, "descriptor set too large: %zu bytes, at most %d", len,
		       SCHEMA_MAX_BYTES);
		return NULL;
	}
	/* pbcheck walks the wire without recursing past PBCHECK_MAX_DEPTH, so protobuf-c's
	 * recursive unpack only sees bounded nesting; and every string is UTF-8 without NUL. */
	if (pbcheck_explain(d, data, len, &res) != PBCHECK_OK ||
	    pbcheck_text(d, data, len, &res) != PBCHECK_OK) {
		refuse(ld, "not a descriptor set: %s%s%s", res.path, res.path[0] ? ": " : "",
		       res.message);
		return NULL;
	}
	pballoc_init_budget(&budget, PBALLOC_BASE + DECODE_PER_BYTE * len);
	if (!(msg = protobuf_c_message_unpack(d, &budget.allocator, len, data)))
		refuse(ld, budget.exhausted ? "descriptor set too complex to decode"
		                            : "not a descriptor set");
	return (Google__Protobuf__FileDescriptorSet *)msg;
}

static int build(struct load *ld, const Google__Protobuf__FileDescriptorSet *set)
{
	struct schema *s = ld->s;
	size_t i;

	if (set->n_file > SCHEMA_MAX_FILES)
		return refuse(ld, "more than %d files", SCHEMA_MAX_FILES);
	if (!(s->msgs = arena_array(ld, SCHEMA_MAX_MESSAGES, sizeof(*s->msgs))) ||
	    !(s->enums = arena_array(ld, SCHEMA_MAX_ENUMS, sizeof(*s->enums))))
		return -1;
	for (i = 0; i < set->n_file; i++)
		if (!is_rules_file(set->file[i]) && add_file(ld, set->file[i]) < 0)
			return -1;
	if (index_types(ld) < 0)
		return -1;
	for (i = 0; i < s->n_enums; i++)
		if (build_enum(ld, s->enums[i]) < 0)
			return -1;
	for (i = 0; i < s->n_msgs; i++)
		if (build_message(ld, s->msgs[i]) < 0)
			return -1;
	if (check_depths(ld) < 0 || attach_rules(ld) < 0 || attach_comments(ld, set) < 0 ||
	    collect_forms(ld, set) < 0 || pack_files(ld, set) < 0)
		return -1;
	/* What pointed into the decoded set must not outlive it. */
	for (i = 0; i < s->n_msgs; i++) {
		s->msgs[i]->proto = NULL;
		s->msgs[i]->file = NULL;
	}
	for (i = 0; i < s->n_enums; i++) {
		s->enums[i]->proto = NULL;
		s->enums[i]->file = NULL;
	}
	return 0;
}

/* Load a descriptor set into run-time descriptors, or refuse it naming what is wrong. */
struct schema *schema_load(const uint8_t *data, size_t len, struct schema_error *err)
{
	struct schema_error local;
	Google__Protobuf__FileDescriptorSet *set;
	struct load ld = {.err = err ? err : &local};

	memset(ld.err, 0, sizeof(*ld.err));
	if (!data && len) {
		refuse(&ld, "no data");
		return NULL;
	}
	if (!(set = decode(&ld, data, len)))
		return NULL;
	if (!(ld.s = calloc(1, sizeof(*ld.s)))) {
		protobuf_c_message_free_unpacked(&set->base, NULL);
		refuse(&ld, "out of memory");
		return NULL;
	}
	if (build(&ld, set) < 0) {
		schema_free(ld.s);
		ld.s = NULL;
	}
	protobuf_c_message_free_unpacked(&set->base, NULL);
	return ld.s;
}

/* Free a schema and every descriptor it owns. */
void schema_free(struct schema *s)
{
	struct chunk *c, *next;

	if (!s)
		return;
	for (c = s->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(s);
}

/* Return the number of forms in s. */
size_t schema_form_count(const struct schema *s)
{
	return s ? s->n_forms : 0;
}

/* Return the i-th form of s in name order, or NULL past the end. */
const struct schema_form *schema_form_at(const struct schema *s, size_t i)
{
	return s && i < s->n_forms ? &s->forms[i] : NULL;
}

/* Return the form of s called name, or NULL. */
const struct schema_form *schema_form_find(const struct schema *s, const char *name)
{
	struct schema_form key = {.name = name};

	if (!s || !name)
		return NULL;
	return bsearch(&key, s->forms, s->n_forms, sizeof(*s->forms), by_form_name);
}

/* Return the label and help of field f of desc, a message of s. */
const struct schema_field *schema_field(const struct schema *s,
                                        const ProtobufCMessageDescriptor *desc,
                                        const ProtobufCFieldDescriptor *f)
{
	char full[512];
	struct smsg *m;

	if (!s || !desc || !f)
		return NULL;
	snprintf(full, sizeof(full), ".%s", desc->name);
	if (!(m = find_msg(s, full)) || &m->desc != desc || f < desc->fields ||
	    f >= desc->fields + desc->n_fields)
		return NULL;
	return &m->info[f - desc->fields];
}

static size_t file_index(const struct schema *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n_files; i++)
		if (strcmp(s->files[i].name, name) == 0)
			return i;
	return s->n_files;
}

/* Mark file i and, once each, the files it imports (the set is small: SCHEMA_MAX_FILES). */
static void mark_files(const struct schema *s, size_t i, bool *marked)
{
	size_t d;

	if (marked[i])
		return;
	marked[i] = true;
	for (d = 0; d < s->files[i].n_deps; d++)
		mark_files(s, s->files[i].deps[d], marked);
}

/* Return a descriptor set of form f's file and the files of s it imports (free() it), its
 * length in *len; NULL when f is not a form of s or out of memory. */
uint8_t *schema_form_export(const struct schema *s, const struct schema_form *f, size_t *len)
{
	bool marked[SCHEMA_MAX_FILES] = {false};
	size_t i, n = 0, at = 0;
	uint8_t *out;

	if (!s || !f || f < s->forms || f >= s->forms + s->n_forms ||
	    (i = file_index(s, f->file)) == s->n_files)
		return NULL;
	mark_files(s, i, marked);
	/* A set's encoding is its files' records one after another: the packed one-file sets
	 * concatenated are the packed set of those files, in the set's order. */
	for (i = 0; i < s->n_files; i++)
		n += marked[i] ? s->files[i].len : 0;
	if (!(out = malloc(n ? n : 1)))
		return NULL;
	for (i = 0; i < s->n_files; i++)
		if (marked[i]) {
			memcpy(out + at, s->files[i].packed, s->files[i].len);
			at += s->files[i].len;
		}
	*len = n;
	return out;
}

/* Return the rules of field f of desc, a message of the schema ctx. */
const struct rules *schema_rules(const void *ctx, const ProtobufCMessageDescriptor *desc,
                                 const ProtobufCFieldDescriptor *f)
{
	const struct schema_field *info = schema_field(ctx, desc, f);

	return info ? info->rules : NULL;
}
