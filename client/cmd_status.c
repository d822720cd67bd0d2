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

/* Parse one status command's arguments, send the update and print the new state. */
static int run_status(struct cmd_ctx *ctx, int argc, char **argv, const struct status_cmd *sc)
{
	const struct option opts[] = {
	    {sc->reason_opt ? sc->reason_opt : "reason", required_argument, NULL, 'r'},
	    CMD_CHANGE_OPTIONS,
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateStatus up = REFEX__UPDATE_STATUS__INIT;
	Refex__Response *resp = NULL;
	const char *reason = NULL, *id = NULL;
	int c, rc;

	/* accept takes no reason: leave its option out of the table. */
	while ((c = cmd_getopt(ctx, argc, argv, sc->reason_opt ? opts : opts + 1, &rc)) >= 0) {
		if (c == 'r') {
			reason = optarg;
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
	if (resp->body_case == REFEX__RESPONSE__BODY_REFERRAL && resp->referral->has_state) {
		output_text(stdout, resp->referral->id ? resp->referral->id : up.id);
		printf(" %s\n", output_state_name(resp->referral->state));
	} else {
		output_text(stdout, up.id);
		printf(" %s\n", sc->done);
	}
	refex__response__free_unpacked(resp, NULL);
	return EXIT_DONE;
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
