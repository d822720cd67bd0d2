/* Output for people: aligned tables, times, state names, refusals; and JSON for scripts. */
#include "output.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbenum.h"
#include "pbjson.h"

struct table {
	size_t ncols;
	size_t nrows;
	size_t cap;
	char **cells; /* nrows * ncols, row-major; row 0 is the header when has_header */
	int has_header;
};

/* Copy s with anything a terminal would act on made harmless. */
static char *clean_copy(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *out = malloc(n + 1);

	if (!out) {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) {
			out[o++] = '?'; /* a C1 control such as CSI, in UTF-8 */
			i++;
		} else if (ch == '\n' || ch == '\t' || ch == '\r') {
			out[o++] = ' ';
		} else if (ch < 0x20 || ch == 0x7f) {
			out[o++] = '?';
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return out;
}

/* Print s for a terminal with control characters made harmless. */
void output_text(FILE *out, const char *s)
{
	char *c;

	if (!s) {
		return;
	}
	if ((c = clean_copy(s))) {
		fputs(c, out);
		free(c);
	}
}

/* Warn about the possible duplicates of a client the hub stored. */
void output_warn_duplicates(char *const *ids, size_t n, bool refer)
{
	for (size_t i = 0; i < n; i++) {
		fputs("refex: warning: possible duplicate of client ", stderr);
		output_text(stderr, ids[i]);
		fputs(
		    " (same name and date of birth); both are kept, check with 'refex client show ",
		    stderr);
		output_text(stderr, ids[i]);
		fputc('\'', stderr);
		if (refer) {
			fputs(" and refer a client your agency already holds with --client-id ",
			      stderr);
			output_text(stderr, ids[i]);
			fputs(", not --client FILE", stderr);
		}
		fputc('\n', stderr);
	}
}

/* Columns on a terminal: count UTF-8 code points, not bytes. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80) {
			w++;
		}
	}
	return w;
}

/* Start a table of ncols columns. */
struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t) {
		return NULL;
	}
	t->ncols = ncols;
	if (headers) {
		if (table_add(t, headers) < 0) {
			table_free(t);
			return NULL;
		}
		t->has_header = 1;
	}
	return t;
}

/* Add a row of ncols strings. */
int table_add(struct table *t, const char *const *cells)
{
	size_t i;
	char **row;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));

		if (!grown) {
			return -1;
		}
		t->cells = grown;
		t->cap = cap;
	}
	row = t->cells + t->nrows * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		row[i] = clean_copy(cells[i] ? cells[i] : "-");
		if (!row[i]) {
			while (i-- > 0) {
				free(row[i]);
			}
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

/* Print the table with columns aligned. */
void table_print(const struct table *t, FILE *out, const char *indent)
{
	size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(*width));
	size_t r, c, w;

	if (!width) {
		return;
	}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			if ((w = text_width(t->cells[r * t->ncols + c])) > width[c]) {
				width[c] = w;
			}
		}
	}
	for (r = 0; r < t->nrows; r++) {
		size_t last = t->ncols;

		/* No trailing blanks: stop after the last non-empty cell. */
		while (last > 1 && !*t->cells[r * t->ncols + last - 1]) {
			last--;
		}
		fputs(indent ? indent : "", out);
		for (c = 0; c < last; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			fputs(cell, out);
			if (c + 1 < last) {
				fprintf(out, "%*s", (int)(width[c] - text_width(cell) + 2), "");
			}
		}
		fputc('\n', out);
	}
	free(width);
}

/* Free the table. */
void table_free(struct table *t)
{
	size_t i;

	if (!t) {
		return;
	}
	for (i = 0; i < t->nrows * t->ncols; i++) {
		free(t->cells[i]);
	}
	free(t->cells);
	free(t);
}

/* Format unix seconds as local "YYYY-MM-DD HH:MM". */
const char *output_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0) {
		snprintf(buf, len, "-");
	}
	return buf;
}

/* Return the lower-case name of a state. */
const char *output_state_name(Refex__State s)
{
	return pbenum_state_name(s);
}

/* Find a state by its lower-case name. */
int output_state_parse(const char *name, Refex__State *s)
{
	int v;

	if (pbenum_parse(&refex__state__descriptor, name, '-', &v) < 0) {
		return -1;
	}
	*s = (Refex__State)v;
	return 0;
}

/* The state names, comma-separated. */
const char *output_state_list(void)
{
	static char list[8 * PBENUM_NAME_MAX];

	return pbenum_list(&refex__state__descriptor, '-', list, sizeof(list));
}

static const char *status_words(Refex__StatusCode code)
{
	switch (code) {
	case REFEX__STATUS_CODE__STATUS_OK:
		return "ok";
	case REFEX__STATUS_CODE__STATUS_INVALID:
		return "invalid request";
	case REFEX__STATUS_CODE__STATUS_NOT_FOUND:
		return "not found";
	case REFEX__STATUS_CODE__STATUS_FORBIDDEN:
		return "not allowed";
	case REFEX__STATUS_CODE__STATUS_CONFLICT:
		return "not possible in the referral's current state";
	case REFEX__STATUS_CODE__STATUS_TOO_LARGE:
		return "too large";
	case REFEX__STATUS_CODE__STATUS_UNAVAILABLE:
		return "the server is unavailable: try again later";
	case REFEX__STATUS_CODE__STATUS_UNSUPPORTED:
		return "not supported by the server";
	default:
		return "refused";
	}
}

/* Print a refusal on stderr. */
void output_refusal(const Refex__Status *st)
{
	fputs("refex: ", stderr);
	if (!st) {
		fputs("the server sent a response without a status\n", stderr);
		return;
	}
	output_text(stderr, st->message && *st->message ? st->message : status_words(st->code));
	if (st->field && *st->field) {
		fputs(" (field: ", stderr);
		output_text(stderr, st->field);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
}

/* Print json on stdout, indented, with a final newline. */
int output_json(json_t *json)
{
	int rc;

	if (!json) {
		return -1;
	}
	rc = json_dumpf(json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(json);
	return rc;
}

/* Print msg as canonical JSON, always with the list called list_key (if not NULL). */
int output_message_json(const ProtobufCMessage *msg, const char *list_key)
{
	json_t *json = pbjson_encode(msg);

	if (!json) {
		return -1;
	}
	if (list_key && !json_object_get(json, list_key)) {
		json_object_set_new(json, list_key, json_array());
	}
	return output_json(json);
}

/* Say on stderr that a reply could not be printed. */
void output_print_failure(void)
{
	/* JSON encoding fails on text that is not UTF-8 too, and other agencies send text. */
	fputs("refex: cannot print the reply (out of memory, or text that is not valid UTF-8)\n",
	      stderr);
}
