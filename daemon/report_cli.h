/* refexd --report: the operator's network report, read straight from the database. */
#ifndef REFEX_REPORT_CLI_H
#define REFEX_REPORT_CLI_H

#include "config.h"

/* What the operator asked for on the command line (NULL: the default). */
struct report_cli {
	const char *from, *to; /* YYYY-MM-DD */
	const char *by;        /* pathway, form or month */
	const char *format;    /* table, csv or json */
};

/* Print the network report of cfg's database; returns refexd's exit status (2: bad option). */
int report_cli_run(const struct config *cfg, const struct report_cli *opt);

#endif
