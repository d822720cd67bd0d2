/* refexd --report: the partnership view for the operator, from the database file itself (a
 * read-only connection: the hub may be running or not). */
#include "report_cli.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pbjson.h"
#include "report.h"
#include "report_text.h"
#include "store_report.h"

static int report_print(const Refex__Report *r, const char *format)
{
	json_t *json;
	int rc = 0;

	if (strcmp(format, "csv") == 0) {
		report_print_csv(stdout, r);
	} else if (strcmp(format, "json") == 0) {
		if ((json = pbjson_encode(&r->base)) == NULL ||
		    json_dumpf(json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
			fprintf(stderr, "refexd: cannot print the report as JSON\n");
			rc = 1;
		}
		json_decref(json);
		fputc('\n', stdout);
	} else {
		report_print_table(stdout, r);
	}
	return rc;
}

/* Print the network report of cfg's database. */
int report_cli_run(const struct config *cfg, const struct report_cli *opt)
{
	struct report_params p = {.min_count = cfg->report_min_count, .now = (int64_t)time(NULL)};
	const char *format = opt->format ? opt->format : "table", *field = NULL;
	struct store_report_data data = {0};
	Refex__Report *r;
	char err[768];
	int rc;

	if (opt->by != NULL && report_text_grouping(opt->by, &p.by) < 0) {
		fprintf(stderr, "refexd: --by: expected pathway, form or month, got \"%s\"\n",
		        opt->by);
		return 2;
	}
	if (report_period(&p, opt->from, opt->to, &field, err, sizeof(err)) < 0) {
		fprintf(stderr, "refexd: --%s: %s\n", strcmp(field, "toDay") == 0 ? "to" : "from",
		        err);
		return 2;
	}
	if (store_report_read_file(
	        cfg->database,
	        &(struct store_report_query){.from_day = p.from_day, .to_day = p.to_day}, &data,
	        err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "refexd: cannot read the report: %s\n", err);
		return 1;
	}
	if ((r = report_build(&data, &p)) == NULL) {
		fprintf(stderr, "refexd: out of memory\n");
		rc = 1;
	} else {
		rc = report_print(r, format);
	}
	report_free(r);
	store_report_data_free(&data);
	return rc;
}
