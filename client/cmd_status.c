/* refex accept, decline, complete, withdraw: move a referral on in its lifecycle. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "output.h"

/* What one status command sends and which option carries its reason. */
struct status_cmd {
	Refex__Action action;
	const char *reason_opt; /* "reason", "outcome", or NULL for none */
	Refex__State done;      /* printed when the reply does not say the state */
};

/* Print "ID STATE" from the hub's reply (done: the state when it does not say), or with json
 * the referral it answered with. */
static int print_result(const Refex__Response *resp, const char *id, Refex__State done, int json)
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
	printf(" %s\n", output_state_name(r && r->has_state ? r->state : done));
	return EXIT_DONE;
}

/* Send one status command's update and print the new state. */
static int run_status(struct cmd_ctx *ctx, const struct args *args, const struct status_cmd *sc)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateStatus up = REFEX__UPDATE_STATUS__INIT;
	Refex__Response *resp = NULL;
	int rc;

	up.id = (char *)args_operand(args, 0);
	up.has_action = 1;
	up.action = sc->action;
	up.reason = sc->reason_opt ? (char *)args_get(args, sc->reason_opt) : NULL;
	req.body_case = REFEX__REQUEST__BODY_UPDATE;
	req.update = &up;
	if ((rc = cmd_call_change(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	rc = print_result(resp, up.id, sc->done, args_has(args, "json") > 0);
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

/* Accept a referral sent to this agency. */
static int cmd_accept_exec(struct cmd_ctx *ctx, const struct args *args)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_ACCEPT, NULL,
	                                     REFEX__STATE__STATE_ACCEPTED};

	return run_status(ctx, args, &sc);
}

/* Decline a referral sent to this agency, with a reason. */
static int cmd_decline_exec(struct cmd_ctx *ctx, const struct args *args)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_DECLINE, "reason",
	                                     REFEX__STATE__STATE_DECLINED};

	return run_status(ctx, args, &sc);
}

/* Complete an accepted referral, with its outcome. */
static int cmd_complete_exec(struct cmd_ctx *ctx, const struct args *args)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_COMPLETE, "outcome",
	                                     REFEX__STATE__STATE_COMPLETED};

	return run_status(ctx, args, &sc);
}

/* Withdraw a referral this agency sent, with a reason. */
static int cmd_withdraw_exec(struct cmd_ctx *ctx, const struct args *args)
{
	static const struct status_cmd sc = {REFEX__ACTION__ACTION_WITHDRAW, "reason",
	                                     REFEX__STATE__STATE_WITHDRAWN};

	return run_status(ctx, args, &sc);
}

const struct cmd_entry cmd_accept_entry = {
    .name = "accept",
    .usage = "ID [--json] [--idempotency-key KEY] [--verbose]",
    .summary = "accept a referral sent to your agency",
    .args = {"json" CMD_CHANGE_TEMPLATE, 1, 1, {"which referral? give its ID"}},
    .options = CMD_JSON_REFERRAL_HELP CMD_CHANGE_HELP,
    .notes = CMD_RETRY_NOTES,
    .exec = cmd_accept_exec,
};

const struct cmd_entry cmd_decline_entry = {
    .name = "decline",
    .usage = "ID --reason TEXT [--json] [--idempotency-key KEY] [--verbose]",
    .summary = "decline a referral sent to your agency, saying why",
    .args = {"reason=TEXT! json" CMD_CHANGE_TEMPLATE, 1, 1, {"which referral? give its ID"}},
    .options = "  --reason TEXT       why your agency cannot take it (told to the "
               "sender)\n" CMD_JSON_REFERRAL_HELP CMD_CHANGE_HELP,
    .notes = CMD_RETRY_NOTES,
    .exec = cmd_decline_exec,
};

const struct cmd_entry cmd_complete_entry = {
    .name = "complete",
    .usage = "ID --outcome TEXT [--json] [--idempotency-key KEY] [--verbose]",
    .summary = "close an accepted referral with its outcome",
    .args = {"outcome=TEXT! json" CMD_CHANGE_TEMPLATE, 1, 1, {"which referral? give its ID"}},
    .options = "  --outcome TEXT      what was done for the client (told to the "
               "sender)\n" CMD_JSON_REFERRAL_HELP CMD_CHANGE_HELP,
    .notes = CMD_RETRY_NOTES,
    .exec = cmd_complete_exec,
};

const struct cmd_entry cmd_withdraw_entry = {
    .name = "withdraw",
    .usage = "ID --reason TEXT [--json] [--idempotency-key KEY] [--verbose]",
    .summary = "withdraw a referral your agency sent, saying why",
    .args = {"reason=TEXT! json" CMD_CHANGE_TEMPLATE, 1, 1, {"which referral? give its ID"}},
    .options =
        "  --reason TEXT       why it is withdrawn (told to the receiver)\n" CMD_JSON_REFERRAL_HELP
            CMD_CHANGE_HELP,
    .notes = CMD_RETRY_NOTES,
    .exec = cmd_withdraw_exec,
};
