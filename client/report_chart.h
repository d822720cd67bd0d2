/* refex report --svg and --html: self-contained pictures of an outcomes report. */
#ifndef REFEX_REPORT_CHART_H
#define REFEX_REPORT_CHART_H

#include <stdio.h>

#include "refex.pb-c.h"

/* Write r as one SVG image: referrals per row by outcome, and time to answer. Returns 0 or -1
 * (a write failed). */
int report_chart_svg(FILE *out, const Refex__Report *r);

/* Write r as one HTML page: the same charts, the full table and the decline reasons. No script,
 * no link out: it opens from an e-mail attachment. Returns 0 or -1. */
int report_chart_html(FILE *out, const Refex__Report *r);

#endif
