/* refex audit: who read or changed a referral, and when, from the hub's audit trail. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "output.h"

/* Print entries as a table: when (to the second, local time), who, what. */
static int print_entries(const Refex__AuditLog *log)
{
	static const char *const headers[] = {"SEQ", "WHEN", "AGENCY", "HOLDER", "ACTION"};
	struct table *t = table_new(5, headers);
	char seq[24], when[64];
	int rc = t ? 0 : -1;

	for (size_t i = 0; rc == 0 && i < log->n_entries; i++) {
		const Refex__AuditEntry *e = log->entries[i];
		const char *cells[5] = {seq, output_time(e->at_ms / 1000, when, sizeof(when)),
		                        e->agency, e->holder, e->action};

		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
		rc = table_add(t, cells);
	}
	if (rc == 0) {
		table_print(t, stdout, "");
	}
	table_free(t);
	return rc;
}

/* Show the audit trail of a referral or client record the agency may see. */
static int cmd_audit_exec(struct cmd_ctx *ctx, const struct args *args)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetAudit get = REFEX__GET_AUDIT__INIT;
	Refex__Response *resp = NULL;
	const char *id = args_get(args, "referral"), *client = args_get(args, "client-id");
	int rc, json = args_has(args, "json") > 0;

	if ((id == NULL) == (client == NULL)) {
		return cmd_usage_error(ctx, "give one of --referral ID and --client-id ID");
	}
	get.referral_id = (char *)id;
	get.client_id = (char *)client;
	req.body_case = REFEX__REQUEST__BODY_AUDIT;
	req.audit = &get;
	if ((rc = cmd_call(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (resp->body_case != REFEX__RESPONSE__BODY_AUDIT) {
		fprintf(stderr, "refex: the server's reply has no audit trail\n");
		rc = EXIT_CONNECT;
	} else if ((json ? output_message_json(&resp->audit->base, "entries")
	                 : print_entries(resp->audit)) < 0) {
		output_print_failure();
		rc = EXIT_REFUSED;
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

const struct cmd_entry cmd_audit_entry = {
    .name = "audit",
    .usage = "(--referral ID | --client-id ID) [--json]",
    .summary = "show who read or changed a referral or a client record, and when",
    .args = {"referral=ID client-id|client=ID json", 0, 0, {NULL}},
    .options = "  --referral ID       the referral (yours: sent or received)\n"
               "  --client-id ID      the client record (yours, or referred to you: your\n"
               "                      agency's own entries); --client ID also works\n"
               "  --json              print the entries as JSON\n",
    .notes = "Every full read (show) and every change of a referral or client record is\n"
             "recorded by the hub with the agency and holder of the certificate used.\n",
    .exec = cmd_audit_exec,
};
