/* refex consent: record, list and withdraw a client's consent (or another lawful basis) to
 * share their record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "output.h"
#include "pbenum.h"
#include "show.h"

struct consent_args {
	const char *sub, *operand;
	Refex__ConsentRecord k;
	const char *basis, *method;
	int json;
};

/* Read the options and operands into a. */
static void take_args(const struct args *args, struct consent_args *a)
{
	a->sub = args_operand(args, 0);
	a->operand = args_operand(args, 1);
	a->k.to_agency = (char *)args_get(args, "to");
	if (args_has(args, "any-partner")) {
		a->k.has_any_partner = a->k.any_partner = 1;
	}
	a->k.purpose = (char *)args_get(args, "purpose");
	a->method = args_get(args, "method");
	a->k.expires = (char *)args_get(args, "expires");
	a->basis = args_get(args, "basis");
	a->k.reason = (char *)args_get(args, "reason");
	a->json = args_has(args, "json") > 0;
}

/* Turn --basis and --method into the record's fields; -1 to carry on, else an exit code. */
static int parse_how(struct cmd_ctx *ctx, struct consent_args *a)
{
	char names[4 * PBENUM_NAME_MAX];
	int v;

	if (a->basis != NULL) {
		if (pbenum_parse(&refex__lawful_basis__descriptor, a->basis, '-', &v) < 0) {
			return cmd_usage_error(ctx, "--basis is one of %s; not '%s'",
			                       pbenum_list(&refex__lawful_basis__descriptor, '-',
			                                   names, sizeof(names)),
			                       a->basis);
		}
		a->k.has_basis = 1;
		a->k.basis = (Refex__LawfulBasis)v;
	}
	/* other-basis is the hub's to set (refex.proto), so it is no --method. */
	if (a->method != NULL) {
		if (pbenum_parse(&refex__consent_method__descriptor, a->method, '-', &v) < 0 ||
		    v == REFEX__CONSENT_METHOD__CONSENT_OTHER_BASIS) {
			return cmd_usage_error(
			    ctx, "--method is verbal, written or digital, not '%s'", a->method);
		}
		a->k.has_method = 1;
		a->k.method = (Refex__ConsentMethod)v;
	}
	return -1;
}

/* Print the consent the hub answered with as JSON; returns an exit code. */
static int print_json(const Refex__ConsentRecord *k)
{
	if (output_message_json(&k->base, NULL) < 0) {
		output_print_failure();
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}

/* Send req and hand back the consent (with its id) in its reply, or an exit code. */
static int call_consent(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp)
{
	int rc = cmd_call_expect(ctx, req, REFEX__RESPONSE__BODY_CONSENT, "consent", resp);

	if (rc == EXIT_DONE && (*resp)->consent->id == NULL) {
		refex__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		fprintf(stderr, "refex: the server's reply has no consent id\n");
		return EXIT_CONNECT;
	}
	return rc;
}

static int consent_add(struct cmd_ctx *ctx, struct consent_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if ((rc = parse_how(ctx, a)) >= 0) {
		return rc;
	}
	if ((a->k.to_agency != NULL) == (a->k.any_partner != 0)) {
		return cmd_usage_error(ctx, "give one of --to AGENCY and --any-partner");
	}
	a->k.client_id = (char *)a->operand;
	req.body_case = REFEX__REQUEST__BODY_ADD_CONSENT;
	req.add_consent = &a->k;
	if ((rc = call_consent(ctx, &req, &resp)) == EXIT_DONE) {
		if (!a->json) {
			printf("%s\n", resp->consent->id);
		} else {
			rc = print_json(resp->consent);
		}
		refex__response__free_unpacked(resp, NULL);
	}
	return rc;
}

/* The state of a consent today: live, expired or withdrawn (with when). */
static const char *consent_state(const Refex__ConsentRecord *k, char *buf, size_t len)
{
	char when[32], today[11];
	time_t now = time(NULL);
	struct tm tm;

	if (k->has_withdrawn_at) {
		snprintf(buf, len, "withdrawn %s",
		         output_time(k->withdrawn_at, when, sizeof(when)));
		return buf;
	}
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	return k->expires && strcmp(k->expires, today) < 0 ? "expired" : "live";
}

static int print_consents(const Refex__ConsentList *list)
{
	static const char *const headers[] = {"ID",      "COVERS",   "BASIS", "METHOD",
	                                      "EXPIRES", "RECORDED", "STATE", "WHAT FOR / WHY"};
	struct table *t = table_new(8, headers);
	char when[32], state[64], by[200], basis[PBENUM_NAME_MAX], method[PBENUM_NAME_MAX];
	int rc = t ? 0 : -1;

	for (size_t i = 0; rc == 0 && i < list->n_consents; i++) {
		const Refex__ConsentRecord *k = list->consents[i];
		const char *cells[8];

		snprintf(by, sizeof(by), "%s by %s (%s)",
		         output_time(k->recorded_at, when, sizeof(when)),
		         k->recorded_agency ? k->recorded_agency : "-",
		         k->recorded_by ? k->recorded_by : "-");
		cells[0] = k->id;
		cells[1] = k->to_agency ? k->to_agency : "any partner";
		/* An unset basis is consent, as before the hub recorded other bases. */
		cells[2] = pbenum_name(&refex__lawful_basis__descriptor,
		                       k->basis ? k->basis : REFEX__LAWFUL_BASIS__BASIS_CONSENT,
		                       '-', basis, sizeof(basis));
		cells[3] =
		    k->has_method ? show_consent_method(k->method, method, sizeof(method)) : NULL;
		cells[4] = k->expires;
		cells[5] = by;
		cells[6] = consent_state(k, state, sizeof(state));
		cells[7] = k->basis == REFEX__LAWFUL_BASIS__BASIS_CONSENT ? k->purpose : k->reason;
		rc = table_add(t, cells);
	}
	if (rc == 0) {
		table_print(t, stdout, "");
	}
	table_free(t);
	return rc;
}

static int consent_list(struct cmd_ctx *ctx, struct consent_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListConsents list = REFEX__LIST_CONSENTS__INIT;
	Refex__Response *resp = NULL;
	int rc;

	list.client_id = (char *)a->operand;
	req.body_case = REFEX__REQUEST__BODY_LIST_CONSENTS;
	req.list_consents = &list;
	if ((rc = cmd_call(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (resp->body_case != REFEX__RESPONSE__BODY_CONSENTS) {
		fprintf(stderr, "refex: the server's reply has no consents\n");
		rc = EXIT_CONNECT;
	} else if ((a->json ? output_message_json(&resp->consents->base, "consents")
	                    : print_consents(resp->consents)) < 0) {
		output_print_failure();
		rc = EXIT_REFUSED;
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

static int consent_withdraw(struct cmd_ctx *ctx, struct consent_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__WithdrawConsent w = REFEX__WITHDRAW_CONSENT__INIT;
	Refex__Response *resp = NULL;
	int rc;

	w.id = (char *)a->operand;
	w.reason = a->k.reason;
	req.body_case = REFEX__REQUEST__BODY_WITHDRAW_CONSENT;
	req.withdraw_consent = &w;
	if ((rc = call_consent(ctx, &req, &resp)) == EXIT_DONE) {
		if (!a->json) {
			printf("consent %s withdrawn: client %s's record is no longer shared under "
			       "it\n",
			       resp->consent->id, resp->consent->client_id);
		} else {
			rc = print_json(resp->consent);
		}
		refex__response__free_unpacked(resp, NULL);
	}
	return rc;
}

/* Run one of the consent subcommands. */
static int cmd_consent_exec(struct cmd_ctx *ctx, const struct args *args)
{
	struct consent_args a = {.k = REFEX__CONSENT_RECORD__INIT};

	take_args(args, &a);
	if (strcmp(a.sub, "add") == 0) {
		return consent_add(ctx, &a);
	}
	if (strcmp(a.sub, "list") == 0) {
		return consent_list(ctx, &a);
	}
	if (strcmp(a.sub, "withdraw") == 0) {
		return consent_withdraw(ctx, &a);
	}
	return cmd_usage_error(ctx, "unknown subcommand '%s' (add, list, withdraw)", a.sub);
}

const struct cmd_entry cmd_consent_entry = {
    .name = "consent",
    .usage = "add CLIENT_ID (--to AGENCY | --any-partner) (--purpose TEXT --method "
             "verbal|written|digital | --basis BASIS --reason TEXT) [--expires DATE] |"
             " list CLIENT_ID | withdraw CONSENT_ID [--reason TEXT] [--json]",
    .summary = "record, list or withdraw a client's consent (or another lawful basis) to share",
    .args = {"to=AGENCY any-partner purpose=TEXT method=METHOD expires=DATE basis=BASIS "
             "reason=TEXT json",
             2,
             2,
             {"what to do? add, list or withdraw", "which one? give its ID"}},
    .options = "  --to AGENCY         the partner it covers\n"
               "  --any-partner       it covers every partner agency\n"
               "  --purpose TEXT      what the client agreed to share their record for\n"
               "  --method METHOD     how they agreed: verbal, written or digital\n"
               "  --basis BASIS       not consent: safeguarding, legal-obligation or\n"
               "                      vital-interests (needs --reason)\n"
               "  --reason TEXT       why (another basis), or why it is withdrawn\n"
               "  --expires DATE      the last day it covers, YYYY-MM-DD\n"
               "  --json              print the hub's answer as JSON: the consent (add,\n"
               "                      withdraw) or the list\n",
    .notes = "add prints the consent's id. The hub records who recorded it (your\n"
             "certificate's agency and holder) and when. Sharing a client with\n"
             "'refex submit --client-id' needs a live consent or basis covering the\n"
             "recipient; withdraw takes effect at once: the client is not shared under\n"
             "it again, and the agencies that hold the record are shown it was withdrawn.\n",
    .exec = cmd_consent_exec,
};
