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

static int take_option(struct cmd_ctx *ctx, int c, const char *arg, struct report_opts *o)
{
	switch (c) {
	case 'f':
		return take_date(ctx, "from", arg, &o->req.from_day);
	case 't':
		return take_date(ctx, "to", arg, &o->req.to_day);
	case 'b':
		o->req.has_by = 1;
		if (report_text_grouping(arg, &o->req.by) < 0) {
			return cmd_usage_error(
			    ctx, "--by: expected pathway, form or month, got \"%s\"", arg);
		}
		return -1;
	case 'n':
		o->req.has_scope = 1;
		o->req.scope = REFEX__REPORT_SCOPE__REPORT_SCOPE_NETWORK;
		return -1;
	case 'j':
		o->json = 1;
		return -1;
	case 'c':
		o->csv = 1;
		return -1;
	case 's':
		o->svg = arg;
		return -1;
	default: /* 'H': --html */
		o->html = arg;
		return -1;
	}
}

/* Parse the command line into o; returns -1 to carry on, else an exit code. */
static int parse(struct cmd_ctx *ctx, int argc, char **argv, struct report_opts *o)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"by", required_argument, NULL, 'b'},
	    {"network", no_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"csv", no_argument, NULL, 'c'},
	    {"svg", required_argument, NULL, 's'},
	    {"html", required_argument, NULL, 'H'},
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	int c, rc;

	while ((c = cmd_getopt(ctx, argc, argv, opts, &rc)) >= 0) {
		if ((rc = take_option(ctx, c, optarg, o)) >= 0) {
			return rc;
		}
	}
	if (c == CMD_OPTS_EXIT) {
		return rc;
	}
	if (o->json && o->csv) {
		return cmd_usage_error(ctx, "--json and --csv do not go together");
	}
	if (o->req.from_day && o->req.to_day && strcmp(o->req.from_day, o->req.to_day) > 0) {
		return cmd_usage_error(ctx, "--from %s is after --to %s", o->req.from_day,
		                       o->req.to_day);
	}
	return cmd_no_operands(ctx, argc, argv);
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
int cmd_report(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct report_opts o = {.req = REFEX__REPORT_REQUEST__INIT};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if ((rc = parse(ctx, argc, argv, &o)) >= 0) {
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
