/* The outcomes report as text: the cells of its table (refex report, refexd --report) and CSV. */
#ifndef REFEX_REPORT_TEXT_H
#define REFEX_REPORT_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "refex.pb-c.h"

#define REPORT_TEXT_CELL 48 /* bytes of one cell, its end included */
#define REPORT_TEXT_COLS 20 /* columns at most */

/* Fill headers with the names of r's table columns (they follow its view and grouping) and
 * return how many there are. */
size_t report_text_headers(const Refex__Report *r, const char **headers);

/* Fill cells (as many as report_text_headers says) with row's values for people: durations as
 * "2h" or "3d", withheld counts as "<N", nothing known as "-". */
void report_text_cells(const Refex__Report *r, const Refex__ReportRow *row,
                       char cells[][REPORT_TEXT_CELL]);

/* Write what row is about for people ("sent to agency-b, housing_support"). */
void report_text_row_label(const Refex__Report *r, const Refex__ReportRow *row, char *buf,
                           size_t len);

/* Write "15m", "2h", "3d" or ">90d" for a duration given as its band's upper end. */
void report_text_duration(int64_t seconds, char *buf, size_t len);

/* Find a grouping by its name (pathway, form or month). Returns 0 or -1. */
int report_text_grouping(const char *name, Refex__ReportGrouping *by);

/* How report_print_reasons writes decline reasons: as text for a terminal, or as HTML. */
struct report_reasons_style {
	const char *heading;                    /* once, before the first row that has reasons */
	const char *label_open, *label_close;   /* around each such row's label */
	const char *item_open;                  /* before each reason's count */
	int count_width;                        /* the count's width, at least */
	const char *count_close;                /* between the count and the reason */
	const char *item_close;                 /* after each reason */
	const char *list_close;                 /* after each row's reasons */
	void (*text)(FILE *out, const char *s); /* writes a label or reason, made safe */
};

/* Print the most common decline reasons of each row of r (none: nothing) in style st. */
void report_print_reasons(FILE *out, const Refex__Report *r, const struct report_reasons_style *st);

/* Print r as an aligned table, then its decline reasons; control characters become '?'. */
void report_print_table(FILE *out, const Refex__Report *r);

/* Print r as CSV (RFC 4180): a header line, then a line per row; raw numbers (seconds, rates
 * 0..1), empty when withheld or unknown. */
void report_print_csv(FILE *out, const Refex__Report *r);

#endif
