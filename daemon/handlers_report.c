/* The outcomes report: an agency's own, or the network's when the hub's config allows it. */
#include <stdio.h>
#include <time.h>

#include "handlers_private.h"

#include "report.h"
#include "store_report.h"

/* Report on the referrals the caller's agency sent or received, or on the whole network. */
void handle_report(struct request *rq, Refex__Request *msg)
{
	const Refex__ReportRequest *q = msg->report;
	const struct config *cfg = rq->hub->cfg;
	bool network = q->has_scope && q->scope == REFEX__REPORT_SCOPE__REPORT_SCOPE_NETWORK;
	struct report_params p = {
	    .agency = network ? NULL : session_identity(rq->s)->agency,
	    .by = q->has_by ? q->by : REFEX__REPORT_GROUPING__REPORT_BY_PATHWAY,
	    .min_count = cfg->report_min_count,
	    .now = (int64_t)time(NULL),
	};
	struct store_report_data data = {0};
	Refex__Response r = REFEX__RESPONSE__INIT;
	const char *field = NULL;
	char err[128];

	if (network && !cfg->report_network) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "scope",
		            "this hub does not show partners the network report "
		            "([report] partners_see_network = no)");
		return;
	}
	if ((int)p.by < 0 || p.by > REFEX__REPORT_GROUPING__REPORT_BY_MONTH) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "by",
		            "a report is grouped by pathway, form or month");
		return;
	}
	if (report_period(&p, q->from_day, q->to_day, &field, err, sizeof(err)) < 0) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, field, "%s", err);
		return;
	}
	if (store_report_read(rq->hub->store,
	                      &(struct store_report_query){.agency = p.agency,
	                                                   .from_day = p.from_day,
	                                                   .to_day = p.to_day,
	                                                   .reasons = !network},
	                      &data) != STORE_OK ||
	    (r.report = report_build(&data, &p)) == NULL) {
		store_report_data_free(&data);
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the report cannot be made right now; please try again");
		return;
	}
	r.body_case = REFEX__RESPONSE__BODY_REPORT;
	reply(rq, &r);
	report_free(r.report);
	store_report_data_free(&data);
}
