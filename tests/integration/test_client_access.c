/* The access-control matrix for client records: every client request × {owner, holder (an
 * agency the client was referred to), outsider}, each with its expected answer. An outsider's
 * answer about a real client is word for word its answer about an id never issued: nothing
 * says the client exists. Runs the real refex against a real refexd. */
#include "clients_fixture.h"

TestSuite(client_access, .init = clients_setup, .fini = clients_teardown, .timeout = 120);

enum role { OWNER, HOLDER, OUTSIDER, N_ROLES };
static const char *const role_name[N_ROLES] = {"owner", "holder", "outsider"};

/* What a cell expects: refex's exit status, and text its output must hold (NULL: any). */
struct want {
	int status;        /* -1: any */
	const char *holds; /* NULL: anything */
	const char *lacks; /* NULL: nothing in particular */
};

/* One request: refex's arguments, with "@C" for the client id, "@K" for its consent's id and
 * "@F" for a client record file. The holder and outsider run first; the owner's erase last. */
struct row {
	const char *what;
	const char *argv[12];
	struct want want[N_ROLES];
};

#define OK(text)                                                                                   \
	{                                                                                          \
		0, text, NULL                                                                      \
	}
#define NO(text)                                                                                   \
	{                                                                                          \
		1, text, NULL                                                                      \
	}
#define NONE                                                                                       \
	{                                                                                          \
		0, "No referrals of this client", "@C"                                             \
	}
/* Not found, in the same words as for an id never issued. */
#define OUTSIDE                                                                                    \
	{                                                                                          \
		1, "not found", NULL                                                               \
	}

static const struct row matrix[] = {
    {"client show", {"client", "show", "@C", "--json"}, {OK("Amira"), OK("Amira"), OUTSIDE}},
    {"client update", {"client", "update", "@C", "@F"}, {OK("version 2"), NO(NULL), OUTSIDE}},
    {"client list (search)",
     {"client", "list", "--search", "Khan", "--json"},
     {OK("@C"), OK("@C"), {0, NULL, "@C"}}},
    {"consent add",
     {"consent", "add", "@C", "--to", "third-party", "--purpose", "food", "--method", "verbal"},
     {OK(NULL), NO(NULL), OUTSIDE}},
    {"consent list (only what covers the caller, to a holder)",
     {"consent", "list", "@C", "--json"},
     {OK("third-party"), {0, "@K", "third-party"}, OUTSIDE}},
    {"audit --client-id", {"audit", "--client-id", "@C", "--json"}, {OK(NULL), OK(NULL), OUTSIDE}},
    {"template --client-id",
     {"template", "housing_support", "--client-id", "@C"},
     {OK("PRIVATE_RENTED"), OK("PRIVATE_RENTED"), OUTSIDE}},
    {"inbox --client-id", {"inbox", "--client-id", "@C"}, {NONE, OK("@R"), NONE}},
    {"sent --client-id", {"sent", "--client-id", "@C"}, {OK("@R"), NONE, NONE}},
    {"submit --client-id",
     {"submit", "--to", "eastside-housing", "--form", "housing_support", "--client-id", "@C",
      "--data", "@D"},
     {OK(NULL), NO(NULL), OUTSIDE}},
    {"consent withdraw",
     {"consent", "withdraw", "@K", "--reason", "changed mind"},
     {OK(NULL), NO(NULL), OUTSIDE}},
    {"client erase",
     {"client", "erase", "@C", "--reason", "asked to"},
     {OK(NULL), NO(NULL), OUTSIDE}},
};

static char cid[REFEX_ID_LEN + 1], kid[REFEX_ID_LEN + 1], rid[REFEX_ID_LEN + 1];
static char *record_file;

static const char *role_prefix(enum role role)
{
	return role == OWNER ? north : role == HOLDER ? east : third;
}

/* Expand one argument's placeholders; client is the id asked about. */
static const char *arg_of(const char *a, const char *client, const char *consent)
{
	if (a == NULL) {
		return NULL;
	}
	return strcmp(a, "@C") == 0   ? client
	       : strcmp(a, "@K") == 0 ? consent
	       : strcmp(a, "@F") == 0 ? record_file
	       : strcmp(a, "@D") == 0 ? FIXTURE("housing.json")
	                              : a;
}

/* Run row as role about client and consent; r is the caller's to free. */
static int ask(const struct row *row, enum role role, const char *client, const char *consent,
               struct run_result *r)
{
	const char *a[12];

	for (size_t i = 0; i < 12; i++) {
		a[i] = arg_of(row->argv[i], client, consent);
	}
	return run_refex(r, net, role_prefix(role), a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
	                 a[8], a[9], a[10], a[11], NULL);
}

/* A well-formed id never issued: id with its last (random) character changed. */
static void ghost_of(const char *id, char ghost[REFEX_ID_LEN + 1])
{
	snprintf(ghost, REFEX_ID_LEN + 1, "%s", id);
	ghost[REFEX_ID_LEN - 1] = ghost[REFEX_ID_LEN - 1] == '0' ? '1' : '0';
}

/* text, with the placeholders for the ids expanded. */
static const char *expanded(const char *text)
{
	return strcmp(text, "@C") == 0   ? cid
	       : strcmp(text, "@K") == 0 ? kid
	       : strcmp(text, "@R") == 0 ? rid
	                                 : text;
}

/* Check what the answer holds and lacks. */
static void expect_text(const struct run_result *r, const struct want *w, const char *what)
{
	const char *t;

	if (w->holds != NULL) {
		t = expanded(w->holds);
		cr_expect(strstr(r->out, t) != NULL || strstr(r->err, t) != NULL,
		          "%s: the answer does not hold '%s':\n%s%s", what, t, r->out, r->err);
	}
	if (w->lacks != NULL) {
		t = expanded(w->lacks);
		cr_expect(strstr(r->out, t) == NULL && strstr(r->err, t) == NULL,
		          "%s: the answer shows '%s':\n%s%s", what, t, r->out, r->err);
	}
}

/* The outsider's answer about the real ids must equal its answer about ids never issued. */
static void expect_as_ghost(const struct row *row, const struct run_result *real)
{
	char gc[REFEX_ID_LEN + 1], gk[REFEX_ID_LEN + 1], a[2048], b[2048];
	struct run_result g;

	ghost_of(cid, gc);
	ghost_of(kid, gk);
	cr_expect_eq(ask(row, OUTSIDER, gc, gk, &g), real->status, "%s: outsider's exit differs",
	             row->what);
	text_without_id(real->err, strstr(real->err, kid) ? kid : cid, a, sizeof(a));
	text_without_id(g.err, strstr(g.err, gk) ? gk : gc, b, sizeof(b));
	cr_expect_str_eq(a, b, "%s: the outsider learns the client exists", row->what);
	run_result_free(&g);
}

static void check_cell(const struct row *row, enum role role)
{
	const struct want *w = &row->want[role];
	char what[160];
	struct run_result r;
	int status;

	snprintf(what, sizeof(what), "%s by the %s", row->what, role_name[role]);
	status = ask(row, role, cid, kid, &r);
	if (w->status >= 0) {
		cr_expect_eq(status, w->status, "%s: exit %d, not %d:\n%s%s", what, status,
		             w->status, r.out, r.err);
	}
	expect_text(&r, w, what);
	if (role == OUTSIDER && status != 0) {
		expect_as_ghost(row, &r);
	}
	run_result_free(&r);
}

Test(client_access, every_client_request_by_owner_holder_and_outsider)
{
	struct run_result r;

	client_add(north, "Amira", "Khan", "1990-04-01", cid, NULL);
	consent_to(cid, "eastside-housing", kid);
	cr_assert_eq(submit_stored(cid, rid, &r), 0, "submit: %s", r.err);
	run_result_free(&r);
	record_file = client_file("Amira", "Khan", "1990-04-01");

	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		for (int role = N_ROLES - 1; role >= 0; role--) { /* the owner last: erase */
			check_cell(&matrix[i], (enum role)role);
		}
	}
	free(record_file);
}
