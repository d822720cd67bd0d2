/* The outcomes report as text: table cells, an aligned table and CSV. */
#include "report_text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pbenum.h"

#define OVER_90_DAYS 7776000

/* Say whether row field name was withheld (the network view's small counts). */
static bool withheld(const Refex__ReportRow *row, const char *name)
{
	for (size_t i = 0; i < row->n_suppressed; i++) {
		if (strcmp(row->suppressed[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static bool own(const Refex__Report *r)
{
	return r->scope != REFEX__REPORT_SCOPE__REPORT_SCOPE_NETWORK;
}

/* Fill headers with the names of r's table columns. */
size_t report_text_headers(const Refex__Report *r, const char **headers)
{
	static const char *const counts[] = {
	    "SENT",      "ACCEPTED",       "DECLINED",         "WITHDRAWN",
	    "COMPLETED", "OPEN",           "OVERDUE",          "FORWARDED",
	    "ACCEPT %",  "READ (MED/P90)", "ANSWER (MED/P90)", "COMPLETE (MED/P90)"};
	size_t n = 0;

	if (own(r)) {
		headers[n++] = "DIRECTION";
	}
	if (r->by == REFEX__REPORT_GROUPING__REPORT_BY_MONTH) {
		headers[n++] = "MONTH";
	} else if (r->by == REFEX__REPORT_GROUPING__REPORT_BY_FORM) {
		headers[n++] = "FORM";
	} else {
		headers[n++] = own(r) ? "PARTNER" : "FROM";
		if (!own(r)) {
			headers[n++] = "TO";
		}
		headers[n++] = "FORM";
	}
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		headers[n++] = counts[i];
	}
	return n;
}

/* Find a grouping by its name. */
int report_text_grouping(const char *name, Refex__ReportGrouping *by)
{
	int v;

	if (pbenum_parse(&refex__report_grouping__descriptor, name, '-', &v) < 0) {
		return -1;
	}
	*by = (Refex__ReportGrouping)v;
	return 0;
}

/* Write a duration given as its band's upper end. */
void report_text_duration(int64_t seconds, char *buf, size_t len)
{
	if (seconds > OVER_90_DAYS) {
		snprintf(buf, len, ">90d");
	} else if (seconds < 3600) {
		snprintf(buf, len, "%" PRId64 "m", seconds / 60);
	} else if (seconds < 86400) {
		snprintf(buf, len, "%" PRId64 "h", seconds / 3600);
	} else {
		snprintf(buf, len, "%" PRId64 "d", seconds / 86400);
	}
}

static void count_cell(const Refex__ReportRow *row, const char *name, protobuf_c_boolean has,
                       uint64_t v, unsigned min, char *cell)
{
	if (has) {
		snprintf(cell, REPORT_TEXT_CELL, "%" PRIu64, v);
	} else if (withheld(row, name)) {
		snprintf(cell, REPORT_TEXT_CELL, "<%u", min);
	} else {
		snprintf(cell, REPORT_TEXT_CELL, "-");
	}
}

static void time_cell(const Refex__ReportRow *row, const char *name, const Refex__ReportTime *t,
                      char *cell)
{
	char med[16], p90[16];

	if (t != NULL && t->has_median_s && t->has_p90_s) {
		report_text_duration(t->median_s, med, sizeof(med));
		report_text_duration(t->p90_s, p90, sizeof(p90));
		snprintf(cell, REPORT_TEXT_CELL, "%s/%s", med, p90);
	} else if (withheld(row, name)) {
		snprintf(cell, REPORT_TEXT_CELL, "withheld");
	} else {
		snprintf(cell, REPORT_TEXT_CELL, "-");
	}
}

static const char *or_dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* Fill cells with row's values for people. */
void report_text_cells(const Refex__Report *r, const Refex__ReportRow *row,
                       char cells[][REPORT_TEXT_CELL])
{
	bool sent = row->direction == REFEX__REPORT_DIRECTION__REPORT_DIRECTION_SENT;
	unsigned min = r->min_count;
	size_t n = 0;

	if (own(r)) {
		snprintf(cells[n++], REPORT_TEXT_CELL, "%s", sent ? "sent to" : "received from");
	}
	if (r->by == REFEX__REPORT_GROUPING__REPORT_BY_MONTH) {
		snprintf(cells[n++], REPORT_TEXT_CELL, "%s", or_dash(row->month));
	} else if (r->by == REFEX__REPORT_GROUPING__REPORT_BY_FORM) {
		snprintf(cells[n++], REPORT_TEXT_CELL, "%s", or_dash(row->form));
	} else {
		if (own(r)) {
			snprintf(cells[n++], REPORT_TEXT_CELL, "%s",
			         or_dash(sent ? row->recipient : row->sender));
		} else {
			snprintf(cells[n++], REPORT_TEXT_CELL, "%s", or_dash(row->sender));
			snprintf(cells[n++], REPORT_TEXT_CELL, "%s", or_dash(row->recipient));
		}
		snprintf(cells[n++], REPORT_TEXT_CELL, "%s", or_dash(row->form));
	}
	count_cell(row, "sent", row->has_sent, row->sent, min, cells[n++]);
	count_cell(row, "accepted", row->has_accepted, row->accepted, min, cells[n++]);
	count_cell(row, "declined", row->has_declined, row->declined, min, cells[n++]);
	count_cell(row, "withdrawn", row->has_withdrawn, row->withdrawn, min, cells[n++]);
	count_cell(row, "completed", row->has_completed, row->completed, min, cells[n++]);
	count_cell(row, "open", row->has_open, row->open, min, cells[n++]);
	count_cell(row, "overdue", row->has_overdue, row->overdue, min, cells[n++]);
	count_cell(row, "forwarded", row->has_forwarded, row->forwarded, min, cells[n++]);
	if (row->has_acceptance_rate) {
		snprintf(cells[n++], REPORT_TEXT_CELL, "%.0f%%", row->acceptance_rate * 100.0);
	} else {
		snprintf(cells[n++], REPORT_TEXT_CELL, "%s",
		         withheld(row, "acceptanceRate") ? "withheld" : "-");
	}
	time_cell(row, "toRead", row->to_read, cells[n++]);
	time_cell(row, "toAnswer", row->to_answer, cells[n++]);
	time_cell(row, "toComplete", row->to_complete, cells[n++]);
}

/* Write what row is about for people. */
void report_text_row_label(const Refex__Report *r, const Refex__ReportRow *row, char *buf,
                           size_t len)
{
	const char *dir = !own(r) ? ""
	                  : row->direction == REFEX__REPORT_DIRECTION__REPORT_DIRECTION_SENT
	                      ? "sent "
	                      : "received ";

	if (r->by == REFEX__REPORT_GROUPING__REPORT_BY_MONTH) {
		snprintf(buf, len, "%s%s%s", dir, *dir ? "in " : "", or_dash(row->month));
	} else if (r->by == REFEX__REPORT_GROUPING__REPORT_BY_FORM) {
		snprintf(buf, len, "%s%s%s", dir, *dir ? "on " : "", or_dash(row->form));
	} else if (own(r)) {
		bool sent = row->direction == REFEX__REPORT_DIRECTION__REPORT_DIRECTION_SENT;

		snprintf(buf, len, "%s%s %s, %s", dir, sent ? "to" : "from",
		         or_dash(sent ? row->recipient : row->sender), or_dash(row->form));
	} else {
		snprintf(buf, len, "%s to %s, %s", or_dash(row->sender), or_dash(row->recipient),
		         or_dash(row->form));
	}
}

/* Print s with control characters (and DEL) as '?': reasons come from users. */
static void put_clean(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
	}
}

/* Print the most common decline reasons of each row of r, in style st. */
void report_print_reasons(FILE *out, const Refex__Report *r, const struct report_reasons_style *st)
{
	char label[256];
	bool any = false;

	for (size_t i = 0; i < r->n_rows; i++) {
		const Refex__ReportRow *row = r->rows[i];

		if (row->n_decline_reasons == 0) {
			continue;
		}
		if (!any) {
			fputs(st->heading, out);
			any = true;
		}
		report_text_row_label(r, row, label, sizeof(label));
		fputs(st->label_open, out);
		st->text(out, label);
		fputs(st->label_close, out);
		for (size_t j = 0; j < row->n_decline_reasons; j++) {
			fprintf(out, "%s%*" PRIu64 "%s", st->item_open, st->count_width,
			        row->decline_reasons[j]->count, st->count_close);
			st->text(out, row->decline_reasons[j]->reason);
			fputs(st->item_close, out);
		}
		fputs(st->list_close, out);
	}
}

/* Print r as an aligned table, then its decline reasons. */
void report_print_table(FILE *out, const Refex__Report *r)
{
	const char *headers[REPORT_TEXT_COLS];
	char cells[REPORT_TEXT_COLS][REPORT_TEXT_CELL];
	size_t ncols = report_text_headers(r, headers), width[REPORT_TEXT_COLS];

	/* What the hub sent is printed as text: a hostile hub gets no terminal control codes in. */
	put_clean(out, own(r) ? or_dash(r->agency) : "whole network");
	fputs(", referrals sent ", out);
	put_clean(out, or_dash(r->from_day));
	fputs(" to ", out);
	put_clean(out, or_dash(r->to_day));
	if (!own(r)) {
		fprintf(out, " (counts under %u withheld)", r->min_count);
	}
	fputs("\n\n", out);
	if (r->n_rows == 0) {
		fputs("No referrals in this period.\n", out);
		return;
	}
	for (size_t c = 0; c < ncols; c++) {
		width[c] = strlen(headers[c]);
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		report_text_cells(r, r->rows[i], cells);
		for (size_t c = 0; c < ncols; c++) {
			size_t w = strlen(cells[c]);

			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (size_t c = 0; c < ncols; c++) {
		fprintf(out, "%-*s%s", (int)width[c], headers[c], c + 1 < ncols ? "  " : "\n");
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		report_text_cells(r, r->rows[i], cells);
		for (size_t c = 0; c < ncols; c++) {
			put_clean(out, cells[c]);
			fprintf(out, "%*s",
			        c + 1 < ncols ? (int)(width[c] - strlen(cells[c]) + 2) : 0,
			        c + 1 < ncols ? "" : "\n");
		}
	}
	report_print_reasons(out, r,
	                     &(const struct report_reasons_style){
	                         .heading = "\nMost common decline reasons:\n",
	                         .label_open = "  ",
	                         .label_close = ":\n",
	                         .item_open = "    ",
	                         .count_width = 4,
	                         .count_close = "  ",
	                         .item_close = "\n",
	                         .list_close = "",
	                         .text = put_clean,
	                     });
}

/* Print s as one CSV field: quoted when it holds a comma, quote or line break. A text a
 * spreadsheet would run as a formula (a decline reason "=HYPERLINK(...)" from another agency)
 * gets a leading ' so that it stays text; no number the report writes starts that way. */
static void csv_field(FILE *out, const char *s, bool last)
{
	bool formula;

	if (s == NULL) {
		s = "";
	}
	formula = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', out);
		if (formula) {
			fputc('\'', out);
		}
		for (; *s != '\0'; s++) {
			if (*s == '"') {
				fputc('"', out);
			}
			fputc(*s, out);
		}
		fputc('"', out);
	} else {
		fputs(formula ? "'" : "", out);
		fputs(s, out);
	}
	fputs(last ? "\r\n" : ",", out);
}

static void csv_count(FILE *out, protobuf_c_boolean has, uint64_t v)
{
	char buf[24] = "";

	if (has) {
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
	}
	csv_field(out, buf, false);
}

static void csv_time(FILE *out, const Refex__ReportTime *t)
{
	char buf[24];

	csv_count(out, t != NULL && t->has_count, t ? t->count : 0);
	snprintf(buf, sizeof(buf), "%" PRId64, t ? t->median_s : 0);
	csv_field(out, t && t->has_median_s ? buf : "", false);
	snprintf(buf, sizeof(buf), "%" PRId64, t ? t->p90_s : 0);
	csv_field(out, t && t->has_p90_s ? buf : "", false);
}

/* Join reasons ("reason: n; ...") or withheld names ("a; b") into buf. */
static void csv_join(const Refex__ReportRow *row, bool reasons, char *buf, size_t len)
{
	size_t used = 0, n = reasons ? row->n_decline_reasons : row->n_suppressed;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		int w = reasons ? snprintf(buf + used, len - used, "%s%s: %" PRIu64, i ? "; " : "",
		                           row->decline_reasons[i]->reason,
		                           row->decline_reasons[i]->count)
		                : snprintf(buf + used, len - used, "%s%s", i ? "; " : "",
		                           row->suppressed[i]);

		used += w > 0 ? (size_t)w : 0;
	}
}

static void csv_row(FILE *out, const Refex__ReportRow *row)
{
	static const char *const dirs[] = {"", "sent", "received"};
	char buf[2048];

	csv_field(out, (unsigned)row->direction < 3 ? dirs[row->direction] : "", false);
	csv_field(out, row->sender, false);
	csv_field(out, row->recipient, false);
	csv_field(out, row->form, false);
	csv_field(out, row->month, false);
	csv_count(out, row->has_sent, row->sent);
	csv_count(out, row->has_accepted, row->accepted);
	csv_count(out, row->has_declined, row->declined);
	csv_count(out, row->has_withdrawn, row->withdrawn);
	csv_count(out, row->has_completed, row->completed);
	csv_count(out, row->has_open, row->open);
	csv_count(out, row->has_overdue, row->overdue);
	csv_count(out, row->has_forwarded, row->forwarded);
	snprintf(buf, sizeof(buf), "%.4f", row->acceptance_rate);
	csv_field(out, row->has_acceptance_rate ? buf : "", false);
	csv_time(out, row->to_read);
	csv_time(out, row->to_answer);
	csv_time(out, row->to_complete);
	csv_join(row, true, buf, sizeof(buf));
	csv_field(out, buf, false);
	csv_join(row, false, buf, sizeof(buf));
	csv_field(out, buf, true);
}

/* Print r as CSV. */
void report_print_csv(FILE *out, const Refex__Report *r)
{
	fputs("direction,sender,recipient,form,month,sent,accepted,declined,withdrawn,completed,"
	      "open,overdue,forwarded,acceptance_rate,to_read_count,to_read_median_s,"
	      "to_read_p90_s,to_answer_count,to_answer_median_s,to_answer_p90_s,"
	      "to_complete_count,to_complete_median_s,to_complete_p90_s,decline_reasons,"
	      "suppressed\r\n",
	      out);
	for (size_t i = 0; i < r->n_rows; i++) {
		csv_row(out, r->rows[i]);
	}
}
