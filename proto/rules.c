/* The rules a form's fields carry: read, fitted to their field, and judged. */
#include "rules.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pballoc.h"
#include "refex/rules.pb-c.h"

/* Say whether any part of a rule holds a setting this hub does not know (a newer
 * rules.proto): enforcing only part of what the partners agreed would mislead them. */
static bool rules_unknown(const Refex__Rules__FieldRules *fr)
{
	const ProtobufCMessage *parts[] = {&fr->base,
	                                   fr->date ? &fr->date->base : NULL,
	                                   fr->text ? &fr->text->base : NULL,
	                                   fr->number ? &fr->number->base : NULL,
	                                   fr->enum_ ? &fr->enum_->base : NULL,
	                                   fr->choose ? &fr->choose->base : NULL};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i] && parts[i]->n_unknown_fields)
			return true;
	return false;
}

static void rules_copy(const Refex__Rules__FieldRules *fr, struct rules *out)
{
	memset(out, 0, sizeof(*out));
	if (fr->date) {
		out->kinds |= RULES_DATE;
		out->not_past = fr->date->has_not_past && fr->date->not_past;
		out->not_future = fr->date->has_not_future && fr->date->not_future;
	}
	if (fr->text) {
		out->kinds |= RULES_TEXT;
		out->max_length = fr->text->has_max_length ? fr->text->max_length : 0;
		out->non_blank = fr->text->has_non_blank && fr->text->non_blank;
	}
	if (fr->number) {
		out->kinds |= RULES_NUMBER;
		out->has_min = fr->number->has_min;
		out->min = fr->number->min;
		out->has_max = fr->number->has_max;
		out->max = fr->number->max;
	}
	if (fr->enum_) {
		out->kinds |= RULES_ENUM;
		out->zero_is_no_answer =
		    fr->enum_->has_zero_is_no_answer && fr->enum_->zero_is_no_answer;
	}
	if (fr->choose) {
		out->kinds |= RULES_CHOOSE;
		out->at_least = fr->choose->has_at_least ? fr->choose->at_least : 0;
	}
}

/* Read a FieldRules message. */
int rules_parse(const uint8_t *data, size_t len, struct rules *out, char *why, size_t cap)
{
	Refex__Rules__FieldRules *fr;
	struct pballoc budget;
	int rc = -1;

	if (len > RULES_MAX_BYTES) {
		snprintf(why, cap, "its rule is larger than %d bytes", RULES_MAX_BYTES);
		return -1;
	}
	/* A forged set may hold anything here: unpack within a budget. */
	pballoc_init(&budget, len);
	if (!(fr = refex__rules__field_rules__unpack(&budget.allocator, len, data))) {
		snprintf(why, cap, "its rule is not a refex.rules.FieldRules");
		return -1;
	}
	if (rules_unknown(fr))
		snprintf(why, cap,
		         "its rule holds a setting this hub does not know (from a newer %s?)",
		         RULES_FILE);
	else if (fr->text && fr->text->has_max_length && fr->text->max_length == 0)
		snprintf(why, cap, "text max_length must be 1 or more");
	else
		rc = 0;
	if (rc == 0)
		rules_copy(fr, out);
	refex__rules__field_rules__free_unpacked(fr, NULL);
	return rc;
}

static bool rules_is_integer(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return true;
	default:
		return false;
	}
}

/* Say whether r fits field f. */
int rules_fit(const struct rules *r, const ProtobufCFieldDescriptor *f, char *why, size_t cap)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;

	if ((r->kinds & RULES_DATE) && f->type != PROTOBUF_C_TYPE_STRING)
		snprintf(why, cap, "a date rule needs a string field");
	else if ((r->kinds & RULES_TEXT) && f->type != PROTOBUF_C_TYPE_STRING)
		snprintf(why, cap, "a text rule needs a string field");
	else if ((r->kinds & RULES_NUMBER) && !rules_is_integer(f->type))
		snprintf(why, cap, "a number rule needs an integer field (int32, uint32, ...)");
	else if ((r->kinds & RULES_NUMBER) && r->has_min && r->has_max && r->min > r->max)
		snprintf(why, cap, "number min %" PRId64 " is more than max %" PRId64, r->min,
		         r->max);
	else if ((r->kinds & RULES_ENUM) && f->type != PROTOBUF_C_TYPE_ENUM)
		snprintf(why, cap, "an enum rule needs an enum field");
	else if (r->zero_is_no_answer && !protobuf_c_enum_descriptor_get_value(ed, 0))
		snprintf(why, cap, "zero_is_no_answer: %s has no value 0", ed->short_name);
	else if ((r->kinds & RULES_CHOOSE) && f->label != PROTOBUF_C_LABEL_REPEATED)
		snprintf(why, cap, "a choose rule needs a repeated field");
	else
		return 0;
	return -1;
}

/* Fill the days "today" means at time now. */
void rules_today_at(struct rules_today *t, int64_t now)
{
	date_utc_day(now - 24 * 60 * 60, t->earliest);
	date_utc_day(now + 24 * 60 * 60, t->latest);
}

static bool rules_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* Characters (UTF-8 code points) in s: every byte that does not continue one. */
static size_t rules_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int rules_judge_text(const struct rules *r, const char *s, const struct rules_today *today,
                            char *why, size_t cap)
{
	size_t n;

	if (!s)
		return 0;
	if ((r->kinds & RULES_DATE) && !date_is_valid(s))
		snprintf(why, cap, "not a date written YYYY-MM-DD");
	else if (r->not_past && strcmp(s, today->earliest) < 0)
		snprintf(why, cap, "%s is in the past; this form asks for a date from today on", s);
	else if (r->not_future && strcmp(s, today->latest) > 0)
		snprintf(why, cap, "%s is in the future; this form asks for a date up to today", s);
	else if (r->non_blank && rules_blank(s))
		snprintf(why, cap, "left blank; this form asks for an answer here");
	else if (r->max_length && (n = rules_chars(s)) > r->max_length)
		snprintf(why, cap, "too long: %zu characters; this form allows at most %" PRIu32, n,
		         r->max_length);
	else
		return 0;
	return -1;
}

/* Read integer value v of type t as signed (*neg set) or unsigned magnitude. */
static void rules_integer(ProtobufCType t, const void *v, int64_t *sv, uint64_t *uv, bool *neg)
{
	*neg = false;
	switch (t) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*uv = *(const uint32_t *)v;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*uv = *(const uint64_t *)v;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*sv = *(const int64_t *)v;
		*neg = *sv < 0;
		*uv = *neg ? 0 : (uint64_t)*sv;
		return;
	default:
		*sv = *(const int32_t *)v;
		*neg = *sv < 0;
		*uv = *neg ? 0 : (uint64_t)*sv;
		return;
	}
	*sv = *uv > INT64_MAX ? INT64_MAX : (int64_t)*uv;
}

static int rules_judge_number(const struct rules *r, const ProtobufCFieldDescriptor *f,
                              const void *v, char *why, size_t cap)
{
	int64_t sv = 0;
	uint64_t uv = 0;
	bool neg;
	char shown[24];

	rules_integer(f->type, v, &sv, &uv, &neg);
	if (neg)
		snprintf(shown, sizeof(shown), "%" PRId64, sv);
	else
		snprintf(shown, sizeof(shown), "%" PRIu64, uv);
	/* An unsigned value past INT64_MAX is more than any max. */
	if (r->has_min && (neg ? sv < r->min : r->min >= 0 && uv < (uint64_t)r->min))
		snprintf(why, cap, "%s is less than this form allows (at least %" PRId64 ")", shown,
		         r->min);
	else if (r->has_max && (neg ? sv > r->max : r->max < 0 || uv > (uint64_t)r->max))
		snprintf(why, cap, "%s is more than this form allows (at most %" PRId64 ")", shown,
		         r->max);
	else
		return 0;
	return -1;
}

/* Judge one value of f by r. */
int rules_judge(const struct rules *r, const ProtobufCFieldDescriptor *f, const void *v,
                const struct rules_today *today, char *why, size_t cap)
{
	const ProtobufCEnumValue *zero;
	const char *s;

	if (!r)
		return 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		s = *(const char *const *)v;
		/* A required string is NULL only in a message built in memory, not decoded. */
		return rules_judge_text(r,
		                        s ? s : (f->label == PROTOBUF_C_LABEL_REQUIRED ? "" : NULL),
		                        today, why, cap);
	case PROTOBUF_C_TYPE_ENUM:
		/* On an optional field the zero value is "not answered", which is allowed. */
		if (!r->zero_is_no_answer || *(const int *)v != 0 ||
		    f->label == PROTOBUF_C_LABEL_OPTIONAL)
			return 0;
		zero = protobuf_c_enum_descriptor_get_value(f->descriptor, 0);
		snprintf(why, cap,
		         "%s is no answer; this form asks you to choose one of the others",
		         zero ? zero->name : "0");
		return -1;
	default:
		return (r->kinds & RULES_NUMBER) && rules_is_integer(f->type)
		           ? rules_judge_number(r, f, v, why, cap)
		           : 0;
	}
}

/* Judge how many values a repeated field holds. */
int rules_judge_count(const struct rules *r, size_t n, char *why, size_t cap)
{
	if (!r || n >= r->at_least)
		return 0;
	if (n == 0)
		snprintf(why, cap, "none chosen; this form asks you to choose at least %" PRIu32,
		         r->at_least);
	else
		snprintf(why, cap, "%zu chosen; this form asks you to choose at least %" PRIu32, n,
		         r->at_least);
	return -1;
}

/* Append text to buf (of cap bytes), after a comma unless it is the first; what does not fit
 * is left out (the descriptions are short: cap is far more than they need). */
static void rules_say(char *buf, size_t cap, const char *text)
{
	size_t at = strlen(buf), n = strlen(text);

	if (at + 2 + n >= cap)
		return;
	if (at)
		memcpy(buf + at, ", ", 2), at += 2;
	memcpy(buf + at, text, n + 1);
}

/* Describe r in words for someone filling a form in ("a date YYYY-MM-DD, today or later"). */
void rules_describe(const struct rules *r, char *buf, size_t cap)
{
	char part[96];

	if (cap == 0)
		return;
	buf[0] = '\0';
	if (!r)
		return;
	if (r->kinds & RULES_DATE)
		rules_say(buf, cap,
		          r->not_past && r->not_future ? "a date YYYY-MM-DD, today"
		          : r->not_past                ? "a date YYYY-MM-DD, today or later"
		          : r->not_future              ? "a date YYYY-MM-DD, today or earlier"
		                                       : "a date YYYY-MM-DD");
	if ((r->kinds & RULES_TEXT) && r->non_blank)
		rules_say(buf, cap, "not blank");
	if ((r->kinds & RULES_TEXT) && r->max_length) {
		snprintf(part, sizeof(part), "at most %u characters", (unsigned)r->max_length);
		rules_say(buf, cap, part);
	}
	if ((r->kinds & RULES_NUMBER) && (r->has_min || r->has_max)) {
		if (r->has_min && r->has_max)
			snprintf(part, sizeof(part), "from %lld to %lld", (long long)r->min,
			         (long long)r->max);
		else if (r->has_min)
			snprintf(part, sizeof(part), "%lld or more", (long long)r->min);
		else
			snprintf(part, sizeof(part), "%lld or less", (long long)r->max);
		rules_say(buf, cap, part);
	}
	if ((r->kinds & RULES_CHOOSE) && r->at_least) {
		snprintf(part, sizeof(part), "at least %u", (unsigned)r->at_least);
		rules_say(buf, cap, part);
	}
}
