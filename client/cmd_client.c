/* refex client: client records the hub keeps for your agency (add, update, show, list, erase). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "input.h"
#include "output.h"
#include "show.h"

struct client_args {
	const char *sub;
	const char *operand[2];
	size_t n;
	const char *search, *reason;
	int json;
};

/* Read SUBCOMMAND [ARG [ARG]] and the options into a. */
static void take_args(const struct args *args, struct client_args *a)
{
	a->sub = args_operand(args, 0);
	for (; a->n < 2 && args_operand(args, (int)a->n + 1); a->n++) {
		a->operand[a->n] = args_operand(args, (int)a->n + 1);
	}
	a->search = args_get(args, "search");
	a->reason = args_get(args, "reason");
	a->json = args_has(args, "json") > 0;
}

/* Say that the hub's reply lacked what it should hold. */
static int bad_reply(const char *what)
{
	fprintf(stderr, "refex: the server's reply has no %s\n", what);
	return EXIT_CONNECT;
}

static void print_header(const Refex__StoredClient *c)
{
	char when[32], num[16];

	printf("Client record\n");
	show_field("id", c->id);
	show_field("owner", c->owner);
	snprintf(num, sizeof(num), "%u", c->version);
	show_field("version", num);
	show_field("created", output_time(c->created_at, when, sizeof(when)));
	show_field("updated", output_time(c->updated_at, when, sizeof(when)));
	if (c->has_erased_at) {
		show_client_erased(c->erased_at, c->erased_by, c->erase_reason);
	}
	if (c->has_consent_withdrawn_at) {
		show_consent_withdrawn(c->consent_withdrawn_at);
	}
}

/* Print one client: as JSON, or its header and record. */
static int print_client(const Refex__StoredClient *c, int json)
{
	if (json) {
		return output_message_json(&c->base, "possibleDuplicates");
	}
	print_header(c);
	if (c->record) {
		show_client_record(c->record);
	}
	return 0;
}

/* Print the client the hub answered with as JSON (as show --json); returns an exit code. */
static int print_json(const Refex__StoredClient *c)
{
	if (print_client(c, 1) < 0) {
		output_print_failure();
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}

/* Send req and hand back the client (with its id) in the reply, or an exit code. */
static int call_client(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp)
{
	int rc = cmd_call_expect(ctx, req, REFEX__RESPONSE__BODY_CLIENT, "client", resp);

	if (rc == EXIT_DONE && (*resp)->client->id == NULL) {
		refex__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return bad_reply("client id");
	}
	return rc;
}

static int client_add(struct cmd_ctx *ctx, const struct client_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__AddClient add = REFEX__ADD_CLIENT__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if (a->n != 1) {
		return cmd_usage_error(ctx, "client add takes one CLIENT.json");
	}
	add.record = (Refex__ClientRecord *)input_load_message(a->operand[0],
	                                                       &refex__client_record__descriptor);
	if (add.record == NULL) {
		return EXIT_USAGE;
	}
	req.body_case = REFEX__REQUEST__BODY_ADD_CLIENT;
	req.add_client = &add;
	if ((rc = call_client(ctx, &req, &resp)) == EXIT_DONE) {
		output_warn_duplicates(resp->client->possible_duplicates,
		                       resp->client->n_possible_duplicates, false);
		if (!a->json) {
			printf("%s\n", resp->client->id);
		} else {
			rc = print_json(resp->client);
		}
		refex__response__free_unpacked(resp, NULL);
	}
	protobuf_c_message_free_unpacked(&add.record->base, NULL);
	return rc;
}

static int client_update(struct cmd_ctx *ctx, const struct client_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateClient up = REFEX__UPDATE_CLIENT__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if (a->n != 2) {
		return cmd_usage_error(ctx, "client update takes ID CLIENT.json");
	}
	up.id = (char *)a->operand[0];
	up.record = (Refex__ClientRecord *)input_load_message(a->operand[1],
	                                                      &refex__client_record__descriptor);
	if (up.record == NULL) {
		return EXIT_USAGE;
	}
	req.body_case = REFEX__REQUEST__BODY_UPDATE_CLIENT;
	req.update_client = &up;
	if ((rc = call_client(ctx, &req, &resp)) == EXIT_DONE) {
		output_warn_duplicates(resp->client->possible_duplicates,
		                       resp->client->n_possible_duplicates, false);
		if (!a->json) {
			printf("%s version %u\n", resp->client->id, resp->client->version);
		} else {
			rc = print_json(resp->client);
		}
		refex__response__free_unpacked(resp, NULL);
	}
	protobuf_c_message_free_unpacked(&up.record->base, NULL);
	return rc;
}

static int client_show(struct cmd_ctx *ctx, const struct client_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetClient get = REFEX__GET_CLIENT__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if (a->n != 1) {
		return cmd_usage_error(ctx, "which client? give its ID");
	}
	get.id = (char *)a->operand[0];
	req.body_case = REFEX__REQUEST__BODY_GET_CLIENT;
	req.get_client = &get;
	if ((rc = call_client(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (!a->json) {
		print_client(resp->client, 0);
	} else {
		rc = print_json(resp->client);
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

static int print_list(const Refex__ClientList *list)
{
	static const char *const headers[] = {"ID", "NAME", "OWNER", "VERSION", "UPDATED"};
	struct table *t = table_new(5, headers);
	char when[32], version[16];
	int rc = t ? 0 : -1;

	for (size_t i = 0; rc == 0 && i < list->n_clients; i++) {
		const Refex__StoredClient *c = list->clients[i];
		const char *cells[5] = {c->id, c->has_erased_at ? "(erased)" : c->name, c->owner,
		                        version, output_time(c->updated_at, when, sizeof(when))};

		snprintf(version, sizeof(version), "%u", c->version);
		rc = table_add(t, cells);
	}
	if (rc == 0) {
		table_print(t, stdout, "");
	}
	table_free(t);
	return rc;
}

static int client_list(struct cmd_ctx *ctx, const struct client_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListClients list = REFEX__LIST_CLIENTS__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if (a->n != 0) {
		return cmd_usage_error(ctx, "unexpected argument '%s'", a->operand[0]);
	}
	list.search = (char *)a->search;
	req.body_case = REFEX__REQUEST__BODY_LIST_CLIENTS;
	req.list_clients = &list;
	if ((rc = cmd_call_expect(ctx, &req, REFEX__RESPONSE__BODY_CLIENTS, "client list",
	                          &resp)) != EXIT_DONE) {
		return rc;
	}
	if ((a->json ? output_message_json(&resp->clients->base, "clients")
	             : print_list(resp->clients)) < 0) {
		output_print_failure();
		rc = EXIT_REFUSED;
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

static int client_erase(struct cmd_ctx *ctx, const struct client_args *a)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__EraseClient erase = REFEX__ERASE_CLIENT__INIT;
	Refex__Response *resp = NULL;
	int rc;

	if (a->n != 1) {
		return cmd_usage_error(ctx, "which client? give its ID");
	}
	if (a->reason == NULL) {
		return cmd_usage_error(ctx, "--reason TEXT is required: say why it is erased");
	}
	erase.id = (char *)a->operand[0];
	erase.reason = (char *)a->reason;
	req.body_case = REFEX__REQUEST__BODY_ERASE_CLIENT;
	req.erase_client = &erase;
	if ((rc = call_client(ctx, &req, &resp)) == EXIT_DONE) {
		if (!a->json) {
			printf("client %s erased, with its copies in every referral\n",
			       resp->client->id);
		} else {
			rc = print_json(resp->client);
		}
		refex__response__free_unpacked(resp, NULL);
	}
	return rc;
}

/* Run one of the client subcommands. */
static int cmd_client_exec(struct cmd_ctx *ctx, const struct args *args)
{
	static const struct {
		const char *name;
		int (*fn)(struct cmd_ctx *, const struct client_args *);
	} subs[] = {
	    {"add", client_add},   {"update", client_update}, {"show", client_show},
	    {"list", client_list}, {"erase", client_erase},
	};
	struct client_args a = {0};

	take_args(args, &a);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(subs[i].name, a.sub) == 0) {
			return subs[i].fn(ctx, &a);
		}
	}
	return cmd_usage_error(ctx, "unknown subcommand '%s' (add, update, show, list, erase)",
	                       a.sub);
}

const struct cmd_entry cmd_client_entry = {
    .name = "client",
    .usage = "add CLIENT.json | update ID CLIENT.json | show ID | list [--search TEXT] |"
             " erase ID --reason TEXT [--json]",
    .summary = "client records the hub keeps for your agency: add, update, show, list, erase",
    .args = {"json search=TEXT reason=TEXT",
             1,
             3,
             {"what to do? add, update, show, list or erase"}},
    .options = "  --search TEXT       list: only clients whose name contains TEXT (any case)\n"
               "  --reason TEXT       erase: why the record is erased (kept on record)\n"
               "  --json              print the hub's answer as JSON: the client (add,\n"
               "                      update, show, erase) or the list\n",
    .notes = "add prints the new client's id; it warns (on stderr) about your clients with\n"
             "the same name and date of birth: both are kept, nothing is merged.\n"
             "update makes a new version; referrals keep the version they shared.\n"
             "list shows your own clients and those other agencies referred to you.\n"
             "erase (your own clients only) removes the record and its copy in every\n"
             "referral; the agencies that held it see when and by whom it was erased.\n",
    .exec = cmd_client_exec,
};
