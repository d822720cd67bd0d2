/* refex accept, decline, complete, withdraw: move a referral on in its lifecycle. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "output.h"

/* What one status command sends and which option carries its reason. */
struct status_cmd {
	Refex__Action action;
	const char *reason_opt; /* "reason", "outcome", or NULL for none */
	const char *done;       /* printed when the reply does not say the state */
};

/* Print "ID STATE" from the hub's reply (done: the state when it does not say), or with json
 * the referral it answered with. */
static int print_result(const Refex__Response *resp, const char *id, const char *done, int json)
{
	const Refex__Referral *r =
	    resp->body_case == REFEX__RESPONSE__BODY_REFERRAL ? resp->referral : NULL;

	if (json) {
		if (!r) {
			fprintf(stderr, "refex: the server's reply has no referral\n");
			return EXIT_CONNECT;
		}
		if (output_message_json(&r->base, NULL) < 0) {
			output_print_failure();
			return EXIT_REFUSED;
		}
		return EXIT_DONE;
	}
	output_text(stdout, r && r->id ? r->id : id);
	printf(" %s\n", r && r->has_state ? output_state_name(r->state) : done);
	return EXIT_DONE;
}

/* Parse one status command's arguments, send the update and print the new state. */
static int run_status(struct cmd_ctx *ctx, int argc, char **argv, const struct status_cmd *sc)
{
	const struct option opts[] = {
	    {sc->reason_opt ? sc->reason_opt : "reason", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    CMD_CHANGE_OPTIONS,
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateStatus up = REFEX__UPDATE_STATUS__INIT;
	Refex__Response *resp = NULL;
	const char *reason = NULL, *id = NULL;
	int c, rc, json = 0;

	/* accept takes no reason: leave its option out of the table. */
	while ((c = cmd_getopt(ctx, argc, argv, sc->reason_opt ? opts : opts + 1, &rc)) >= 0) {
		if (c == 'r') {
			reason = optarg;
		} else if (c == 'j') {
			json = 1;
		} else if ((rc = cmd_change_option(ctx, c, optarg)) >= 0) {
			return rc;
		}
	}
	if (c == CMD_OPTS_EXIT) {
		return rc;
	}
	if ((rc = cmd_one_operand(ctx, argc, argv, "which referral? give its ID", &id)) >= 0) {
		return rc;
	}
	if (sc->reason_opt && (!reason || !*reason)) {
		return cmd_usage_error(ctx, "--%s TEXT is required", sc->reason_opt);
	}
	up.id = (char *)id;
	up.has_action = 1;
	up.action = sc->action;
	up.reason = (char *)reason;
	req.body_case = REFEX__REQUEST__BODY_UPDATE;
	req.update = &up;
	if ((rc = cmd_call_change(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	rc = print_result(resp, up.id, sc->done, json);
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

/* Accept a referral sent to this agency. */
int cmd_accept(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_ACCEPT, NULL, "accepted"};

	return run_status(ctx, argc, argv, &sc);
}

/* Decline a referral sent to this agency, with a reason. */
int cmd_decline(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_DECLINE, "reason", "declined"};

	return run_status(ctx, argc, argv, &sc);
}

/* Complete an accepted referral, with its outcome. */
int cmd_complete(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_COMPLETE, "outcome",
	                                     "completed"};

	return run_status(ctx, argc, argv, &sc);
}

/* Withdraw a referral this agency sent, with a reason. */
int cmd_withdraw(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_WITHDRAW, "reason", "withdrawn"};

	return run_status(ctx, argc, argv, &sc);
}
