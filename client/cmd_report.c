/* refex report: what became of the referrals the agency sent and received. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "date.h"
#include "output.h"
#include "report_chart.h"
#include "report_text.h"

struct report_opts {
	Refex__ReportRequest req;
	int json, csv;
	const char *svg, *html;
};

/* Check a --from or --to date; returns -1 to carry on or EXIT_USAGE. */
static int take_date(struct cmd_ctx *ctx, const char *opt, const char *arg, char **out)
{
	if (!date_is_valid(arg)) {
		return cmd_usage_error(ctx, "--%s: expected a date written YYYY-MM-DD, got \"%s\"",
		                       opt, arg);
	}
	*out = (char *)arg;
	return -1;
}

/* Read the command line into o; returns -1 to carry on, else an exit code. */
static int take_args(struct cmd_ctx *ctx, const struct args *args, struct report_opts *o)
{
	const char *from = args_get(args, "from"), *to = args_get(args, "to");
	const char *by = args_get(args, "by");
	int rc;

	if ((from && (rc = take_date(ctx, "from", from, &o->req.from_day)) >= 0) ||
	    (to && (rc = take_date(ctx, "to", to, &o->req.to_day)) >= 0)) {
		return rc;
	}
	if (by) {
		o->req.has_by = 1;
		if (report_text_grouping(by, &o->req.by) < 0) {
			return cmd_usage_error(
			    ctx, "--by: expected pathway, form or month, got \"%s\"", by);
		}
	}
	if (args_has(args, "network")) {
		o->req.has_scope = 1;
		o->req.scope = REFEX__REPORT_SCOPE__REPORT_SCOPE_NETWORK;
	}
	o->json = args_has(args, "json") > 0;
	o->csv = args_has(args, "csv") > 0;
	o->svg = args_get(args, "svg");
	o->html = args_get(args, "html");
	if (o->json && o->csv) {
		return cmd_usage_error(ctx, "--json and --csv do not go together");
	}
	if (o->req.from_day && o->req.to_day && strcmp(o->req.from_day, o->req.to_day) > 0) {
		return cmd_usage_error(ctx, "--from %s is after --to %s", o->req.from_day,
		                       o->req.to_day);
	}
	return -1;
}

/* Write r to path with write (SVG or HTML); returns 0 or prints why and returns -1. */
static int write_file(const char *path, const Refex__Report *r,
                      int (*write)(FILE *, const Refex__Report *))
{
	FILE *f = fopen(path, "w");
	int rc;

	if (f == NULL) {
		fprintf(stderr, "refex: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = write(f, r);
	if (fclose(f) != 0 || rc < 0) {
		fprintf(stderr, "refex: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(stderr, "refex: wrote %s\n", path);
	return 0;
}

/* Print the report as asked and write its pictures. */
static int report_output(const struct report_opts *o, const Refex__Report *r)
{
	if (o->svg != NULL && write_file(o->svg, r, report_chart_svg) < 0) {
		return EXIT_REFUSED;
	}
	if (o->html != NULL && write_file(o->html, r, report_chart_html) < 0) {
		return EXIT_REFUSED;
	}
	if (o->json) {
		if (output_message_json(&r->base, "rows") < 0) {
			output_print_failure();
			return EXIT_REFUSED;
		}
	} else if (o->csv) {
		report_print_csv(stdout, r);
	} else if (o->svg == NULL && o->html == NULL) {
		report_print_table(stdout, r);
	}
	return EXIT_DONE;
}

/* Report on the agency's referrals (or the network's) over a period. */
static int cmd_report_exec(struct cmd_ctx *ctx, const struct args *args)
{
	struct report_opts o = {.req = REFEX__REPORT_REQUEST__INIT};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if ((rc = take_args(ctx, args, &o)) >= 0) {
		return rc;
	}
	req.body_case = REFEX__REQUEST__BODY_REPORT;
	req.report = &o.req;
	if ((rc = cmd_call_expect(ctx, &req, REFEX__RESPONSE__BODY_REPORT, "report", &resp)) !=
	    EXIT_DONE) {
		return rc;
	}
	rc = report_output(&o, resp->report);
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

const struct cmd_entry cmd_report_entry = {
    .name = "report",
    .usage = "[--from DATE] [--to DATE] [--by pathway|form|month] [--network]\n"
             "       [--json | --csv] [--svg FILE] [--html FILE]",
    .summary = "report what became of the referrals your agency sent and received",
    .args = {"from=DATE to=DATE by=GROUPING network json csv svg=FILE html=FILE", 0, 0, {NULL}},
    .options = "  --from DATE         first day of the period, YYYY-MM-DD (UTC); referrals\n"
               "                      count by the day they were sent (default: 89 days\n"
               "                      before --to)\n"
               "  --to DATE           last day of the period (default: today)\n"
               "  --by GROUPING       one row per pathway (partner and form; the default),\n"
               "                      per form or per month\n"
               "  --network           every pathway of the partnership, with no client data\n"
               "                      and small counts withheld (if the hub allows it)\n"
               "  --json              print the report as JSON (canonical protobuf mapping\n"
               "                      of Report)\n"
               "  --csv               print the report as CSV, for spreadsheets\n"
               "  --svg FILE          write the charts to FILE as an SVG image\n"
               "  --html FILE         write the charts, the table and the decline reasons to\n"
               "                      FILE as one HTML page\n",
    .notes = "Counts: sent, accepted (ever), declined, withdrawn, completed, still open,\n"
             "overdue (not answered by the due time), forwarded (sent on from a referral\n"
             "received). Times run from sending to the first read, to the answer and to\n"
             "completion: median/90th percentile, each as the upper end of its band (15m,\n"
             "30m, 1h, 2h, 4h, 8h, 1d, 2d, 3d, 5d, 7d, 14d, 30d, 60d, 90d, >90d). The SVG\n"
             "and HTML files hold no script and load nothing: they open from an e-mail.\n",
    .exec = cmd_report_exec,
};
