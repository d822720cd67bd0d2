/* refex report and refexd --report: outcomes of referrals made through the real hub, as the
 * agency sees them and as the partnership sees them (small counts withheld, no free text);
 * the table, CSV, JSON, SVG and HTML forms; bad arguments. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north; /* north-advice: sends three referrals */
static const char *east;  /* eastside-housing: reads one, accepts one, declines one */

#define REASON "no capacity <b>&amp;"

static void run_ok(struct run_result *r, const char *who, const char *a1, const char *a2)
{
	run_refex(r, net, who, a1, a2, NULL);
	cr_assert_eq(r->status, 0, "refex %s %s exited %d: %s", a1, a2 ? a2 : "", r->status,
	             r->err);
}

/* Three referrals north -> east: one accepted (after a read), one declined, one left open. */
static void setup(void)
{
	char id[3][REFEX_ID_LEN + 1];
	struct run_result r;

	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES "\n[report]\nmin_count = 2\n"
	                                                        "partners_see_network = yes\n"),
	             0);
	net_must_start(net);
	for (int i = 0; i < 3; i++) {
		submit_housing(net, north, FIXTURE("housing.json"), id[i]);
	}
	run_ok(&r, east, "show", id[0]);
	run_result_free(&r);
	run_ok(&r, east, "accept", id[0]);
	run_result_free(&r);
	run_refex(&r, net, east, "decline", id[1], "--reason", REASON, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(report, .init = setup, .fini = teardown, .timeout = 120);

static json_t *report_json(const char *who, const char *extra)
{
	struct run_result r;
	json_t *j;

	run_refex(&r, net, who, "report", "--json", extra, NULL);
	cr_assert_eq(r.status, 0, "refex report exited %d: %s", r.status, r.err);
	cr_assert_not_null(j = run_json(&r), "no JSON:\n%s", r.out);
	run_result_free(&r);
	return j;
}

static long long num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v) || json_is_string(v), "no number %s", key);
	return json_is_integer(v) ? json_integer_value(v) : atoll(json_string_value(v));
}

/* Expect time field key of row: count answers, median and p90 in the first band (15 min). */
static void expect_quick(const json_t *row, const char *key, long long count)
{
	const json_t *t = json_object_get(row, key);

	cr_assert_not_null(t, "no %s", key);
	cr_expect_eq(num(t, "count"), count, "%s count", key);
	cr_expect_eq(num(t, "medianS"), 900, "%s median: answered within 15 minutes", key);
	cr_expect_eq(num(t, "p90S"), 900, "%s p90", key);
}

Test(report, the_sender_sees_every_number_of_its_pathway)
{
	json_t *j = report_json(north, NULL), *rows = json_object_get(j, "rows"), *row, *reasons;

	cr_assert_eq(json_array_size(rows), 1);
	row = json_array_get(rows, 0);
	cr_expect_str_eq(json_string_value(json_object_get(row, "direction")),
	                 "REPORT_DIRECTION_SENT");
	cr_expect_str_eq(json_string_value(json_object_get(row, "recipient")), "eastside-housing");
	cr_expect_str_eq(json_string_value(json_object_get(row, "form")), "housing_support");
	cr_expect_eq(num(row, "sent"), 3);
	cr_expect_eq(num(row, "accepted"), 1);
	cr_expect_eq(num(row, "declined"), 1);
	cr_expect_eq(num(row, "open"), 1);
	cr_expect_eq(num(row, "withdrawn"), 0);
	cr_expect_eq(num(row, "completed"), 0);
	cr_expect_eq(num(row, "overdue"), 0);
	cr_expect_eq(num(row, "forwarded"), 0);
	cr_expect_float_eq(json_real_value(json_object_get(row, "acceptanceRate")), 0.5, 1e-9);
	expect_quick(row, "toRead", 1);
	expect_quick(row, "toAnswer", 2);
	cr_expect_eq(num(json_object_get(row, "toComplete"), "count"), 0);
	reasons = json_object_get(row, "declineReasons");
	cr_assert_eq(json_array_size(reasons), 1);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reasons, 0), "reason")),
	                 REASON);
	cr_expect_null(json_object_get(row, "suppressed"));
	json_decref(j);
}

Test(report, the_receiver_sees_the_same_referrals_as_received_in_csv)
{
	struct run_result r;
	char *line2;

	run_ok(&r, east, "report", "--csv");
	cr_assert(strncmp(r.out, "direction,sender,recipient,form,month,sent,accepted,", 52) == 0,
	          "%s", r.out);
	cr_assert_not_null(line2 = strstr(r.out, "\r\n"));
	cr_expect(strncmp(line2 + 2,
	                  "received,north-advice,eastside-housing,housing_support,,3,1,1,0,0,1,0,0,"
	                  "0.5000,1,900,900,2,900,900,0,,,",
	                  98) == 0,
	          "%s", line2 + 2);
	cr_expect(strstr(line2, "\"" REASON ": 1\"") == NULL && strstr(line2, REASON ": 1") != NULL,
	          "%s", line2);
	run_result_free(&r);
}

Test(report, the_table_by_month_names_the_columns)
{
	struct run_result r;

	run_refex(&r, net, north, "report", "--by", "month", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, "MONTH") != NULL && strstr(r.out, "ACCEPT %") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "50%") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "15m/15m") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "Most common decline reasons") != NULL, "%s", r.out);
	run_result_free(&r);
}

Test(report, the_network_view_withholds_small_counts_and_free_text)
{
	json_t *j = report_json(east, "--network"), *row, *sup;

	cr_expect_str_eq(json_string_value(json_object_get(j, "scope")), "REPORT_SCOPE_NETWORK");
	cr_expect_eq(num(j, "minCount"), 2);
	cr_expect_null(json_object_get(j, "agency"));
	row = json_array_get(json_object_get(j, "rows"), 0);
	cr_assert_not_null(row);
	cr_expect_str_eq(json_string_value(json_object_get(row, "sender")), "north-advice");
	cr_expect_null(json_object_get(row, "accepted"), "1 is under 2");
	cr_expect_null(json_object_get(row, "declined"));
	cr_expect_null(json_object_get(row, "sent"), "the total would give them away");
	cr_expect_null(json_object_get(row, "declineReasons"), "no free text");
	cr_expect_null(json_object_get(row, "toRead"));
	expect_quick(row, "toAnswer", 2);
	sup = json_object_get(row, "suppressed");
	cr_expect_eq(json_array_size(sup), 6, "accepted, declined, open, sent, rate, toRead");
	json_decref(j);
}

Test(report, the_network_view_needs_the_hub_to_allow_it)
{
	struct run_result r;

	net_stop(net);
	cr_assert_eq(net_write_config(net, NULL), 0);
	net_must_start(net);
	run_refex(&r, net, north, "report", "--network", NULL);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.err, "partners_see_network") != NULL, "%s", r.err);
	run_result_free(&r);
}

Test(report, the_operator_reads_the_network_view_from_the_database)
{
	char *const argv[] = {REFEXD_PATH, "--config", net->config, "--report", "--csv", NULL};
	struct run_result r;

	net_stop(net); /* no running hub needed */
	cr_assert_eq(run(&r, argv, NULL), 0, "%s", r.err);
	cr_expect(strstr(r.out, "\r\n,north-advice,eastside-housing,housing_support,,,,,0,0,,0,0,,"
	                        ",,,2,900,900,0,,,,") != NULL,
	          "%s", r.out);
	cr_expect(strstr(r.out, "capacity") == NULL, "a reason in the network view:\n%s", r.out);
	run_result_free(&r);
}

/* Run python3 (scripts/bootstrap installs it) on script with path as its argument; returns its exit
 * status. */
static int python(const char *script, const char *path, struct run_result *r)
{
	char *const argv[] = {"/usr/bin/python3", "-c", (char *)script, (char *)path, NULL};

	return run(r, argv, NULL);
}

Test(report, the_svg_parses_and_holds_the_bars_and_labels)
{
	static const char script[] =
	    "import sys, xml.etree.ElementTree as E\n"
	    "ns = {'s': 'http://www.w3.org/2000/svg'}\n"
	    "root = E.parse(sys.argv[1]).getroot()\n"
	    "assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag\n"
	    "assert 'north-advice' in root.find('s:title', ns).text\n"
	    "assert root.find('s:desc', ns).text\n"
	    "segs = root.findall(\".//s:rect[@class='seg'][@data-outcome]\", ns)\n"
	    "got = sorted((s.get('data-outcome'), s.find('s:title', ns).text) for s in segs)\n"
	    "want = [('1', 'sent to eastside-housing, housing_support: 1 accepted, not yet "
	    "completed'), ('2', 'sent to eastside-housing, housing_support: 1 still open'), "
	    "('3', 'sent to eastside-housing, housing_support: 1 declined')]\n"
	    "assert got == want, got\n"
	    "texts = [t.text for t in root.iter('{http://www.w3.org/2000/svg}text')]\n"
	    "assert '3 sent: 0 completed, 1 accepted, 1 open, 1 declined, 0 withdrawn' in texts, "
	    "texts\n"
	    "assert 'median 15m, 90% within 15m (2 answered)' in texts, texts\n"
	    "assert len(root.findall(\".//s:rect[@data-median='900']\", ns)) == 1\n"
	    "assert not root.findall('.//s:script', ns)\n"
	    "assert 'http' not in open(sys.argv[1]).read().replace('http://www.w3.org/2000/svg', "
	    "'')\n";
	struct run_result r;
	char path[NET_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/report.svg", net->dir);
	run_refex(&r, net, north, "report", "--svg", path, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(python(script, path, &r), 0, "%s", r.err);
	run_result_free(&r);
}

Test(report, the_html_page_escapes_what_people_wrote)
{
	struct run_result r;
	char path[NET_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/report.html", net->dir);
	run_refex(&r, net, north, "report", "--html", path, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	cr_expect(net_file_holds(net, "report.html", "no capacity &lt;b&gt;&amp;amp;"));
	cr_expect(!net_file_holds(net, "report.html", "<b>"), "a reason went out unescaped");
	cr_expect(!net_file_holds(net, "report.html", "<script"));
	cr_expect(net_file_holds(net, "report.html", "<table>"));
	cr_expect(net_file_holds(net, "report.html", "<title>Referral outcomes: north-advice"));
}

/* Expect refex report with the arguments to be a usage error saying what. */
static void expect_usage(const char *a1, const char *a2, const char *what)
{
	struct run_result r;

	run_refex(&r, net, north, "report", a1, a2, NULL);
	cr_expect_eq(r.status, 2, "refex report %s %s exited %d", a1, a2 ? a2 : "", r.status);
	cr_expect(strstr(r.err, what) != NULL, "refex said: %s", r.err);
	run_result_free(&r);
}

Test(report, bad_arguments_are_usage_errors)
{
	expect_usage("--by", "week", "expected pathway, form or month");
	expect_usage("--from", "2024-02-30", "expected a date written YYYY-MM-DD");
	expect_usage("--to", "tomorrow", "expected a date written YYYY-MM-DD");
	expect_usage("--json", "--csv", "do not go together");
	expect_usage("extra", NULL, "extra");
}

/* Send a report request with the given period and grouping; expect INVALID naming field. */
static void expect_invalid(struct raw *c, const char *from, const char *to, int by,
                           const char *field)
{
	Refex__ReportRequest q = REFEX__REPORT_REQUEST__INIT;
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ServerMessage *m;

	q.from_day = (char *)from;
	q.to_day = (char *)to;
	q.has_by = by != 0;
	q.by = (Refex__ReportGrouping)by;
	req.has_id = 1;
	req.id = 7;
	req.body_case = REFEX__REQUEST__BODY_REPORT;
	req.report = &q;
	cr_assert_not_null(m = raw_call(c, &req));
	cr_assert_not_null(m->response);
	cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_INVALID);
	cr_expect_str_eq(m->response->status->field, field);
	cr_expect_eq(m->response->body_case, REFEX__RESPONSE__BODY__NOT_SET, "nothing reported");
	refex__server_message__free_unpacked(m, NULL);
}

Test(report, the_hub_refuses_a_bad_period_or_grouping_naming_the_field)
{
	struct raw *c = raw_connect(net, north, NULL);

	cr_assert_not_null(c);
	cr_assert_eq(raw_hello(c), 0);
	expect_invalid(c, "2024-13-01", NULL, 0, "fromDay");
	expect_invalid(c, NULL, "31/12/2024", 0, "toDay");
	expect_invalid(c, "2024-10-05", "2024-10-04", 0, "fromDay");
	expect_invalid(c, "2000-01-01", "2024-10-04", 0, "fromDay");
	expect_invalid(c, NULL, NULL, 9, "by");
	raw_free(c);
}
