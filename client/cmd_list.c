/* refex inbox and refex sent: list referrals, newest first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"

struct list_args {
	Refex__ListReferrals list;
	int json;
};

/* Parse --limit N into *out; returns -1 to carry on, else an exit code. */
static int parse_limit(struct cmd_ctx *ctx, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v == 0 || v > UINT32_MAX) {
		return cmd_usage_error(ctx, "--limit wants a positive whole number, not '%s'", s);
	}
	*out = (uint32_t)v;
	return -1;
}

/* Read the list options into a; returns -1 to carry on, else an exit code. */
static int take_args(struct cmd_ctx *ctx, const struct args *args, struct list_args *a)
{
	const char *state = args_get(args, "state"), *limit = args_get(args, "limit");
	int rc;

	if (state) {
		if (output_state_parse(state, &a->list.state) < 0) {
			return cmd_usage_error(ctx, "unknown state '%s' (one of: %s)", state,
			                       output_state_list());
		}
		a->list.has_state = 1;
	}
	if (limit) {
		if ((rc = parse_limit(ctx, limit, &a->list.limit)) >= 0) {
			return rc;
		}
		a->list.has_limit = 1;
	}
	a->list.page_token = (char *)args_get(args, "page-token");
	a->json = args_has(args, "json") > 0;
	if (args_has(args, "overdue")) {
		a->list.has_overdue_only = 1;
		a->list.overdue_only = 1;
	}
	a->list.client_id = (char *)args_get(args, "client-id");
	if (a->list.overdue_only && a->list.client_id != NULL) {
		return cmd_usage_error(ctx, "give --overdue or --client-id, not both");
	}
	return -1;
}

/* NULL (printed as "-") for a missing or empty cell. */
static const char *or_dash(const char *s)
{
	return s && *s ? s : NULL;
}

/* The state cell: the state, and OVERDUE when the receiver has not answered in time. */
static const char *state_cell(const Refex__Referral *r, char *buf, size_t len)
{
	if (!r->has_state) {
		return NULL;
	}
	snprintf(buf, len, "%s%s", output_state_name(r->state),
	         r->has_overdue && r->overdue ? " OVERDUE" : "");
	return buf;
}

/* Add one referral's row. */
static int add_row(struct table *t, const Refex__Referral *r, int inbox)
{
	char created[32], due[32], state[48];
	const char *row[7] = {
	    or_dash(r->id),
	    or_dash(inbox ? r->sender : r->recipient),
	    or_dash(r->form),
	    state_cell(r, state, sizeof(state)),
	    or_dash(r->client_name),
	    output_time(r->has_created_at ? r->created_at : 0, created, sizeof(created)),
	    output_time(r->has_due_at ? r->due_at : 0, due, sizeof(due))};

	return table_add(t, row);
}

/* Add a row under a sent referral for each referral its client was forwarded on as: where the
 * client went and how it is going there. */
static int add_onward_rows(struct table *t, const Refex__Referral *r)
{
	for (size_t i = 0; i < r->n_onward; i++) {
		const Refex__Referral__Onward *o = r->onward[i];
		char id[48], created[32];
		const char *row[7] = {
		    id,
		    or_dash(o->recipient),
		    or_dash(o->form),
		    o->has_state ? output_state_name(o->state) : NULL,
		    "",
		    output_time(o->has_created_at ? o->created_at : 0, created, sizeof(created)),
		    ""};

		snprintf(id, sizeof(id), "-> %s", o->id ? o->id : "-");
		if (table_add(t, row) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Print " ARG", in single quotes when a shell would split or expand it. */
static void print_arg(const char *arg)
{
	size_t n = strlen(arg), o = 0;
	char *q;

	putchar(' ');
	if (n && strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                     "0123456789_-+=.,:/@%") == n) {
		output_text(stdout, arg);
		return;
	}
	if (!(q = malloc(4 * n + 3))) {
		return;
	}
	q[o++] = '\'';
	for (; *arg; arg++) {
		if (*arg == '\'') {
			memcpy(q + o, "'\\''", 4); /* close, an escaped quote, reopen */
			o += 4;
		} else {
			q[o++] = *arg;
		}
	}
	q[o++] = '\'';
	q[o] = '\0';
	output_text(stdout, q);
	free(q);
}

/* Print " --NAME VALUE" when value was given. */
static void print_option(const char *name, const char *value)
{
	if (value) {
		printf(" --%s", name);
		print_arg(value);
	}
}

/* Print "More: " and the whole command that lists the next page: the options given (global
 * ones too) with the new page token, so the next page has the same filters and size. */
static void print_next_command(const struct cmd_ctx *ctx, const Refex__ListReferrals *list,
                               int inbox, const char *token)
{
	char limit[16];

	printf("More: refex %s", inbox ? "inbox" : "sent");
	print_option("config", ctx->opt.config);
	print_option("server", ctx->opt.server);
	print_option("cert", ctx->opt.cert);
	print_option("key", ctx->opt.key);
	print_option("ca", ctx->opt.ca);
	print_option("state", list->has_state ? output_state_name(list->state) : NULL);
	if (list->overdue_only) {
		fputs(" --overdue", stdout);
	}
	print_option("client-id", list->client_id);
	snprintf(limit, sizeof(limit), "%u", list->limit);
	print_option("limit", list->has_limit ? limit : NULL);
	print_option("page-token", token);
	putchar('\n');
}

/* Print the page as a table, and how to get the next page. */
static int print_table(const struct cmd_ctx *ctx, const Refex__ReferralPage *page,
                       const Refex__ListReferrals *list, int inbox)
{
	static const char *const headers[] = {"ID",     "FROM",    "FORM", "STATE",
	                                      "CLIENT", "CREATED", "DUE"};
	static const char *const sent_headers[] = {"ID",     "TO",      "FORM", "STATE",
	                                           "CLIENT", "CREATED", "DUE"};
	struct table *t = table_new(7, inbox ? headers : sent_headers);
	size_t i;

	if (!t) {
		return -1;
	}
	for (i = 0; i < page->n_referrals; i++) {
		if (add_row(t, page->referrals[i], inbox) < 0 ||
		    add_onward_rows(t, page->referrals[i]) < 0) {
			table_free(t);
			return -1;
		}
	}
	if (page->n_referrals == 0) {
		if (list->overdue_only) {
			printf("No overdue referrals.\n");
		} else if (list->client_id != NULL) {
			printf(inbox ? "No referrals of this client in your inbox.\n"
			             : "No referrals of this client sent.\n");
		} else {
			printf(inbox ? "No referrals in your inbox.\n" : "No referrals sent.\n");
		}
	} else {
		table_print(t, stdout, NULL);
	}
	table_free(t);
	if (page->next_page_token && *page->next_page_token) {
		print_next_command(ctx, list, inbox, page->next_page_token);
	}
	return 0;
}

/* List one page of the inbox (inbox) or of the sent referrals. */
static int run_list(struct cmd_ctx *ctx, const struct args *args, int inbox)
{
	struct list_args a = {.list = REFEX__LIST_REFERRALS__INIT};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if ((rc = take_args(ctx, args, &a)) >= 0) {
		return rc;
	}
	if (inbox) {
		req.body_case = REFEX__REQUEST__BODY_LIST_INBOX;
		req.list_inbox = &a.list;
	} else {
		req.body_case = REFEX__REQUEST__BODY_LIST_SENT;
		req.list_sent = &a.list;
	}
	if ((rc = cmd_call(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (resp->body_case != REFEX__RESPONSE__BODY_PAGE) {
		fprintf(stderr, "refex: the server's reply has no list of referrals\n");
		rc = EXIT_CONNECT;
	} else if ((a.json ? output_message_json(&resp->page->base, "referrals")
	                   : print_table(ctx, resp->page, &a.list, inbox)) < 0) {
		output_print_failure();
		rc = EXIT_REFUSED;
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

/* List referrals sent to this agency. */
static int cmd_inbox_exec(struct cmd_ctx *ctx, const struct args *args)
{
	return run_list(ctx, args, 1);
}

/* List referrals this agency has sent. */
static int cmd_sent_exec(struct cmd_ctx *ctx, const struct args *args)
{
	return run_list(ctx, args, 0);
}

#define LIST_TEMPLATE "state=STATE limit=N page-token=TOKEN overdue client-id=ID json"

#define LIST_OPTIONS                                                                               \
	"  --state STATE       only referrals in this state: sent, received, accepted,\n"          \
	"                      declined, completed or withdrawn\n"                                 \
	"  --limit N           at most N referrals (default: the server's page size)\n"            \
	"  --page-token TOKEN  the next page, as printed after the previous one\n"                 \
	"  --overdue           only referrals not accepted or declined by their due time\n"        \
	"  --client-id ID      only referrals that share stored client ID\n"                       \
	"  --json              print the page as JSON (canonical protobuf mapping)\n"

#define LIST_NOTES                                                                                 \
	"DUE is when the receiver should accept or decline by (see the form's\n"                   \
	"acknowledge_within in the hub's configuration); a referral still waiting after it\n"      \
	"shows OVERDUE next to its state.\n"

const struct cmd_entry cmd_inbox_entry = {
    .name = "inbox",
    .usage = "[--state STATE] [--overdue | --client-id ID] [--limit N] "
             "[--page-token TOKEN] [--json]",
    .summary = "list referrals sent to your agency, newest first",
    .args = {LIST_TEMPLATE, 0, 0, {NULL}},
    .options = LIST_OPTIONS,
    .notes = LIST_NOTES,
    .exec = cmd_inbox_exec,
};

const struct cmd_entry cmd_sent_entry = {
    .name = "sent",
    .usage = "[--state STATE] [--overdue | --client-id ID] [--limit N] "
             "[--page-token TOKEN] [--json]",
    .summary = "list referrals your agency has sent, newest first",
    .args = {LIST_TEMPLATE, 0, 0, {NULL}},
    .options = LIST_OPTIONS,
    .notes = LIST_NOTES,
    .exec = cmd_sent_exec,
};
