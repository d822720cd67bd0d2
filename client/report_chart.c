/*
 * Pictures of an outcomes report, for partnership leads: one SVG (or HTML page holding it) with
 * no script, no external reference and no colour that carries meaning alone. Each outcome has
 * its own pattern, every bar has its number written beside it, and the image has a title and a
 * description; the HTML page adds the table itself. Every text is escaped: agency names come
 * from the hub's config, reasons from people.
 */
#include "report_chart.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "report_text.h"

#define LABEL_W 300 /* the row labels' column */
#define BAR_W   360 /* the longest bar */
#define NOTE_W  420 /* the numbers after a bar */
#define ROW_H   26
#define HEAD_H  56
#define WIDTH   (LABEL_W + BAR_W + NOTE_W)
#define BANDS   16 /* the hub's duration bands: 15m .. 90d and more */

/* The outcomes a bar is split into (they add up to the referrals sent), each with a fill. */
enum { O_COMPLETED, O_ACCEPTED, O_OPEN, O_DECLINED, O_WITHDRAWN, O_COUNT };
static const char *const outcome_names[O_COUNT] = {"completed", "accepted, not yet completed",
                                                   "still open", "declined", "withdrawn"};
static const char *const outcome_fills[O_COUNT] = {"#222", "url(#p-hatch)", "url(#p-dots)", "#bbb",
                                                   "url(#p-cross)"};

/* Write s escaped for XML text or an attribute; control characters (not allowed in XML 1.0)
 * become '?'. */
static void xml_text(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
		}
	}
}

/* Split row's referrals into outcomes; false when a count was withheld (network view). */
static bool outcomes(const Refex__ReportRow *row, uint64_t o[O_COUNT])
{
	if (!row->has_sent || !row->has_completed || !row->has_open || !row->has_declined ||
	    !row->has_withdrawn) {
		return false;
	}
	o[O_COMPLETED] = row->completed;
	o[O_OPEN] = row->open;
	o[O_DECLINED] = row->declined;
	o[O_WITHDRAWN] = row->withdrawn;
	/* A hub whose counts do not add up (only a broken or hostile one) gets no bar, not a
	 * wrapped-around count. */
	o[O_ACCEPTED] = row->sent;
	for (int i = 0; i < O_COUNT; i++) {
		if (i == O_ACCEPTED) {
			continue;
		}
		if (o[i] > o[O_ACCEPTED]) {
			return false;
		}
		o[O_ACCEPTED] -= o[i];
	}
	return true;
}

static void svg_defs(FILE *out)
{
	fputs("<defs>"
	      "<pattern id=\"p-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
	      "<rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
	      "<path d=\"M0,6 L6,0\" stroke=\"#000\" stroke-width=\"1.5\"/></pattern>"
	      "<pattern id=\"p-dots\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\">"
	      "<rect width=\"5\" height=\"5\" fill=\"#fff\"/>"
	      "<circle cx=\"2.5\" cy=\"2.5\" r=\"1.2\" fill=\"#000\"/></pattern>"
	      "<pattern id=\"p-cross\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
	      "<rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
	      "<path d=\"M0,0 L6,6 M6,0 L0,6\" stroke=\"#000\" stroke-width=\"0.8\"/></pattern>"
	      "</defs>\n"
	      "<style>text{font-family:sans-serif;font-size:12px;fill:#000}"
	      ".head{font-size:15px;font-weight:bold}rect.seg,rect.time{stroke:#000;"
	      "stroke-width:0.6}</style>\n",
	      out);
}

static void svg_row_label(FILE *out, const Refex__Report *r, const Refex__ReportRow *row, int y)
{
	char label[256];

	report_text_row_label(r, row, label, sizeof(label));
	fprintf(out, "<text x=\"4\" y=\"%d\">", y + 16);
	xml_text(out, label);
	fputs("</text>\n", out);
}

static void svg_legend(FILE *out, int y)
{
	int x = 4;

	for (int i = 0; i < O_COUNT; i++) {
		fprintf(out,
		        "<rect class=\"seg\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
		        "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
		        x, y, outcome_fills[i], x + 18, y + 12, outcome_names[i]);
		x += 40 + (int)strlen(outcome_names[i]) * 7;
	}
}

/* Chart 1: a bar per row split by outcome, its numbers written after it. Returns its height. */
static int svg_outcomes(FILE *out, const Refex__Report *r, int top)
{
	uint64_t max = 1, o[O_COUNT];
	int y = top + HEAD_H;
	char label[256];

	for (size_t i = 0; i < r->n_rows; i++) {
		if (r->rows[i]->has_sent && r->rows[i]->sent > max) {
			max = r->rows[i]->sent;
		}
	}
	fprintf(out, "<g id=\"outcomes\"><text class=\"head\" x=\"4\" y=\"%d\">", top + 20);
	fputs("Referrals by outcome</text>\n", out);
	svg_legend(out, top + 30);
	for (size_t i = 0; i < r->n_rows; i++, y += ROW_H) {
		const Refex__ReportRow *row = r->rows[i];
		double x = LABEL_W;

		svg_row_label(out, r, row, y);
		report_text_row_label(r, row, label, sizeof(label));
		if (!outcomes(row, o)) {
			fprintf(out, "<text x=\"%d\" y=\"%d\">counts under %u withheld</text>\n",
			        LABEL_W, y + 16, r->min_count);
			continue;
		}
		for (int k = 0; k < O_COUNT; k++) {
			double w = (double)o[k] * BAR_W / (double)max;

			if (o[k] == 0) {
				continue;
			}
			fprintf(out,
			        "<rect class=\"seg\" data-outcome=\"%d\" x=\"%.1f\" y=\"%d\" "
			        "width=\"%.1f\" height=\"18\" fill=\"%s\"><title>",
			        k, x, y + 3, w, outcome_fills[k]);
			xml_text(out, label);
			fprintf(out, ": %" PRIu64 " %s</title></rect>\n", o[k], outcome_names[k]);
			x += w;
		}
		fprintf(out,
		        "<text x=\"%.1f\" y=\"%d\">%" PRIu64 " sent: %" PRIu64
		        " completed, %" PRIu64 " accepted, %" PRIu64 " open, %" PRIu64
		        " declined, %" PRIu64 " withdrawn</text>\n",
		        x + 6, y + 16, row->sent, o[O_COMPLETED], o[O_ACCEPTED], o[O_OPEN],
		        o[O_DECLINED], o[O_WITHDRAWN]);
	}
	fputs("</g>\n", out);
	return HEAD_H + (int)r->n_rows * ROW_H + 10;
}

/* The band a duration (its band's upper end) falls in, for a scale that reads from 15 minutes
 * to 90 days in even steps. */
static int band_of(int64_t s)
{
	static const int64_t ends[BANDS - 1] = {900,    1800,    3600,    7200,    14400,
	                                        28800,  86400,   172800,  259200,  432000,
	                                        604800, 1209600, 2592000, 5184000, 7776000};
	int b = 0;

	while (b < BANDS - 1 && s > ends[b]) {
		b++;
	}
	return b;
}

/* Chart 2: a bar per row to the median time to answer (solid) and on to the 90th percentile
 * (hatched), both written after it. Returns its height. */
static int svg_times(FILE *out, const Refex__Report *r, int top)
{
	int y = top + HEAD_H;
	char label[256], med[16], p90[16];

	fprintf(out, "<g id=\"times\"><text class=\"head\" x=\"4\" y=\"%d\">", top + 20);
	fputs("Time to accept or decline (median, then 90th percentile)</text>\n", out);
	fprintf(out,
	        "<rect class=\"time\" x=\"4\" y=\"%d\" width=\"14\" height=\"14\" fill=\"#222\"/>"
	        "<text x=\"22\" y=\"%d\">median</text><rect class=\"time\" x=\"90\" y=\"%d\" "
	        "width=\"14\" height=\"14\" fill=\"url(#p-hatch)\"/><text x=\"108\" y=\"%d\">"
	        "up to the 90th percentile (scale: 15 minutes to over 90 days)</text>\n",
	        top + 30, top + 42, top + 30, top + 42);
	for (size_t i = 0; i < r->n_rows; i++, y += ROW_H) {
		const Refex__ReportTime *t = r->rows[i]->to_answer;
		double wm, wp;

		svg_row_label(out, r, r->rows[i], y);
		if (t == NULL || !t->has_median_s || !t->has_p90_s) {
			fprintf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", LABEL_W, y + 16,
			        t == NULL ? "withheld (too few answers)" : "no answers yet");
			continue;
		}
		report_text_row_label(r, r->rows[i], label, sizeof(label));
		report_text_duration(t->median_s, med, sizeof(med));
		report_text_duration(t->p90_s, p90, sizeof(p90));
		wm = (band_of(t->median_s) + 1) * (double)BAR_W / BANDS;
		wp = (band_of(t->p90_s) + 1) * (double)BAR_W / BANDS;
		fprintf(out,
		        "<rect class=\"time\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" "
		        "fill=\"url(#p-hatch)\"/><rect class=\"time\" data-median=\"%" PRId64
		        "\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"#222\"><title>",
		        LABEL_W, y + 3, wp, t->median_s, LABEL_W, y + 3, wm);
		xml_text(out, label);
		fprintf(out,
		        ": median %s, 90th percentile %s</title></rect>\n<text x=\"%.1f\" y=\"%d\">"
		        "median %s, 90%% within %s (%" PRIu64 " answered)</text>\n",
		        med, p90, LABEL_W + wp + 6, y + 16, med, p90, t->count);
	}
	fputs("</g>\n", out);
	return HEAD_H + (int)r->n_rows * ROW_H + 10;
}

static void report_title(FILE *out, const Refex__Report *r)
{
	fputs("Referral outcomes: ", out);
	xml_text(out, r->agency ? r->agency : "whole network");
	fputs(", referrals sent ", out);
	xml_text(out, r->from_day);
	fputs(" to ", out);
	xml_text(out, r->to_day);
}

/* Write the SVG element (standalone: with its XML namespace). */
static void svg_write(FILE *out, const Refex__Report *r)
{
	int h = 2 * (HEAD_H + (int)r->n_rows * ROW_H + 10) + 10;
	int top;

	fprintf(out,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
	        "aria-labelledby=\"report-title report-desc\" width=\"%d\" height=\"%d\" "
	        "viewBox=\"0 0 %d %d\">\n<title id=\"report-title\">",
	        WIDTH, h, WIDTH, h);
	report_title(out, r);
	fputs("</title>\n<desc id=\"report-desc\">Two bar charts. The first shows, for each row, "
	      "the referrals sent split into completed, accepted, still open, declined and "
	      "withdrawn, each with its own pattern and its numbers written beside the bar. The "
	      "second shows the time to accept or decline: the median and the 90th percentile, "
	      "written beside each bar.",
	      out);
	if (r->scope == REFEX__REPORT_SCOPE__REPORT_SCOPE_NETWORK) {
		fprintf(out, " Counts under %u are withheld.", r->min_count);
	}
	fputs("</desc>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", out);
	svg_defs(out);
	top = svg_outcomes(out, r, 0);
	svg_times(out, r, top);
	fputs("</svg>\n", out);
}

/* Write r as one SVG image. */
int report_chart_svg(FILE *out, const Refex__Report *r)
{
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	svg_write(out, r);
	return ferror(out) ? -1 : 0;
}

static void html_table(FILE *out, const Refex__Report *r)
{
	const char *headers[REPORT_TEXT_COLS];
	char cells[REPORT_TEXT_COLS][REPORT_TEXT_CELL];
	size_t n = report_text_headers(r, headers);

	fputs("<table>\n<caption>Every number (times: median/90th percentile)</caption>\n<tr>",
	      out);
	for (size_t c = 0; c < n; c++) {
		fputs("<th scope=\"col\">", out);
		xml_text(out, headers[c]);
		fputs("</th>", out);
	}
	fputs("</tr>\n", out);
	for (size_t i = 0; i < r->n_rows; i++) {
		report_text_cells(r, r->rows[i], cells);
		fputs("<tr>", out);
		for (size_t c = 0; c < n; c++) {
			fputs("<td>", out);
			xml_text(out, cells[c]);
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* Write r as one HTML page. */
int report_chart_html(FILE *out, const Refex__Report *r)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
	      out);
	report_title(out, r);
	fputs("</title>\n<style>body{font-family:sans-serif;margin:1em;color:#000;background:#fff}"
	      "table{border-collapse:collapse}th,td{border:1px solid #000;padding:2px 6px;"
	      "text-align:left}caption{text-align:left;font-weight:bold}</style>\n</head>\n"
	      "<body>\n<h1>",
	      out);
	report_title(out, r);
	fputs("</h1>\n", out);
	svg_write(out, r);
	html_table(out, r);
	report_print_reasons(out, r,
	                     &(const struct report_reasons_style){
	                         .heading = "<h2>Most common decline reasons</h2>\n",
	                         .label_open = "<h3>",
	                         .label_close = "</h3>\n<ul>\n",
	                         .item_open = "<li>",
	                         .count_close = " &#215; ",
	                         .item_close = "</li>\n",
	                         .list_close = "</ul>\n",
	                         .text = xml_text,
	                     });
	fputs("</body>\n</html>\n", out);
	return ferror(out) ? -1 : 0;
}
