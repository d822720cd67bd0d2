/* The outcomes report: an agency's own, or the network's when the hub's config allows it. */
#include <stdio.h>
#include <time.h>

#include "handlers_private.h"

#include "report.h"
#include "store_report.h"

/* A report whose cells are being read. */
struct pending_report {
	struct request rq;
	struct report_params p;
	struct store_report_query q;
	struct store_report_data data;
};

static enum store_status report_read(struct store *st, void *arg)
{
	struct pending_report *pr = arg;

	return store_report_read(st, &pr->q, &pr->data);
}

/* Build the report from its cells and answer. */
static void report_done(enum store_status status, void *arg)
{
	struct pending_report *pr = arg;
	Refex__Response r = REFEX__RESPONSE__INIT;

	if (status != STORE_OK || (r.report = report_build(&pr->data, &pr->p)) == NULL) {
		reply_error(&pr->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the report cannot be made right now; please try again");
	} else {
		r.body_case = REFEX__RESPONSE__BODY_REPORT;
		reply(&pr->rq, &r);
		report_free(r.report);
	}
	store_report_data_free(&pr->data);
	request_release(&pr->rq);
}

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
	struct pending_report *pr;
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
	if ((pr = request_keep_for_read(rq, sizeof(*pr))) == NULL) {
		return;
	}
	pr->p = p;
	pr->q = (struct store_report_query){
	    .agency = p.agency, .from_day = p.from_day, .to_day = p.to_day, .reasons = !network};
	store_read_async(rq->hub->store, report_read, report_done, pr);
}
