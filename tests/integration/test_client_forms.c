/* refex learns the forms from the hub it talks to: a form the hub took this morning is used
 * from an unchanged refex, the forms are cached per hub and refreshed when the hub's change,
 * and neither a corrupt cache nor a hostile hub can crash it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct net *net;
static const char *north, *east, *third;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	third = net_issue(net, "third-party", "Lee Chan");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(client_forms, .init = setup, .fini = teardown, .timeout = 180);

/* A form the partnership agrees after the hub started, with a label and help text. */
#define TENANCY_HELP                                                                               \
	"syntax = \"proto2\";\n"                                                                   \
	"package partnership;\n"                                                                   \
	"// Tenancy help\n"                                                                        \
	"message TenancyHelp {\n"                                                                  \
	"  // Rooms needed\n"                                                                      \
	"  // Bedrooms, not counting the kitchen.\n"                                               \
	"  required uint32 rooms = 1;\n"                                                           \
	"  optional string landlord_contacted = 2;\n"                                              \
	"}\n"

#define GARDEN_HELP                                                                                \
	"syntax = \"proto2\";\n"                                                                   \
	"package partnership;\n"                                                                   \
	"// Garden help\n"                                                                         \
	"message GardenHelp {\n"                                                                   \
	"  // Square metres\n"                                                                     \
	"  required uint32 area = 1;\n"                                                            \
	"}\n"

#define AGENCIES_WITH(forms)                                                                       \
	"[agency north-advice]\n"                                                                  \
	"accepts = food_support, debt_advice\n"                                                    \
	"[agency eastside-housing]\n"                                                              \
	"accepts = housing_support, " forms "\n"                                                   \
	"[agency third-party]\n"                                                                   \
	"accepts = food_support, " forms "\n"

/* Put the form file name (text) in the hub's forms directory with agencies accepting it, and
 * reload; wait for the hub to say it has n forms. */
static void hub_adds_form(const char *name, const char *text, const char *agencies, int n)
{
	char file[64], line[64];

	snprintf(file, sizeof(file), "forms/%s.proto", name);
	free(net_write_file(net, file, text));
	cr_assert_eq(net_write_config(net, agencies), 0);
	snprintf(line, sizeof(line), "msg=reloaded agencies=3 forms=%d", n);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, line), "the hub did not reload with %d forms", n);
}

/* Run refex as prefix with the arguments; expect exit status want; return what ran (free it). */
#define REFEX_EXPECT(r, want, prefix, ...)                                                         \
	do {                                                                                       \
		int got_ = run_refex((r), net, (prefix), __VA_ARGS__, NULL);                       \
		cr_assert_eq(got_, (want), "refex exited %d, not %d: %s", got_, (want), (r)->err); \
	} while (0)

/* Return the one file of the cache matching pattern (below the hub's directory: "*" then the
 * file name pattern), malloc'd; fails the test unless exactly one does. */
static char *cache_file(const char *pattern)
{
	char path[NET_PATH_MAX + 128];
	glob_t g;
	char *out;

	snprintf(path, sizeof(path), "%s/.cache/refex/*/%s", net->dir, pattern);
	cr_assert_eq(glob(path, 0, NULL, &g), 0, "nothing cached as %s", path);
	cr_assert_eq(g.gl_pathc, 1, "%zu files cached as %s", g.gl_pathc, path);
	out = strdup(g.gl_pathv[0]);
	globfree(&g);
	return out;
}

/* Overwrite path with text. */
static void scribble(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "wb");

	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(text, 1, len, fp), len);
	fclose(fp);
}

Test(client_forms, a_form_added_by_a_reload_is_learnt_submitted_shown_and_forwarded)
{
	char id[REFEX_ID_LEN + 1], *data, *cid;
	struct run_result r;
	json_t *j, *rooms;

	hub_adds_form("tenancy_help", TENANCY_HELP, AGENCIES_WITH("tenancy_help"), 4);

	/* The template of a form this refex never saw, with the form's own labels and help. */
	REFEX_EXPECT(&r, 0, north, "template", "tenancy_help");
	j = run_json(&r);
	rooms = json_object_get(j, "rooms");
	cr_assert(json_is_string(rooms), "template: %s", r.out);
	cr_expect_str_eq(json_string_value(rooms),
	                 "<required uint32> Rooms needed (Bedrooms, not counting the kitchen.)");
	cr_expect_str_eq(json_string_value(json_object_get(j, "landlordContacted")),
	                 "<optional string> Landlord contacted");
	json_decref(j);
	run_result_free(&r);

	data = net_write_file(net, "tenancy.json", "{\"rooms\": 3, \"landlordContacted\": \"no\"}");
	REFEX_EXPECT(&r, 0, north, "submit", "--to", "eastside-housing", "--form", "tenancy_help",
	             "--client", FIXTURE("client.json"), "--consent", FIXTURE("consent.json"),
	             "--data", data);
	snprintf(id, sizeof(id), "%s", run_line(&r));
	run_result_free(&r);

	/* The receiver, who never saw the form either, reads the answers under their labels. */
	REFEX_EXPECT(&r, 0, east, "show", id);
	cr_expect(strstr(r.out, "Tenancy help (tenancy_help, version 1)") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "Rooms needed: 3") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "Landlord contacted: no") != NULL, "%s", r.out);
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, east, "show", id, "--json");
	j = run_json(&r);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "formData"), "rooms")),
	             3, "%s", r.out);
	cid = strdup(json_string_value(json_object_get(j, "clientId")));
	json_decref(j);
	run_result_free(&r);

	/* The owner lets the record go on; the receiver refers the client on, on the new form. */
	REFEX_EXPECT(&r, 0, north, "consent", "add", cid, "--any-partner", "--purpose",
	             "support referrals", "--method", "written");
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, east, "forward", id, "--to", "third-party", "--form", "tenancy_help");
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, third, "inbox", "--json");
	cr_expect(strstr(r.out, "tenancy_help") != NULL, "%s", r.out);
	run_result_free(&r);

	free(cid);
	free(data);
	net_expect_clean_stop(net);
}

Test(client_forms, the_cache_is_used_while_the_digest_holds_and_refreshed_when_it_changes)
{
	struct run_result r;
	char *list;
	struct stat st;

	REFEX_EXPECT(&r, 0, north, "forms");
	cr_expect(strstr(r.out, "housing_support") != NULL, "%s", r.out);
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	cr_assert_eq(net_log_count(net, "type=list_forms"), 1);
	cr_assert_eq(net_log_count(net, "type=get_form_schema"), 1);

	/* Nothing changed on the hub: the list and the schema come from the cache. */
	REFEX_EXPECT(&r, 0, north, "forms");
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	cr_expect_eq(net_log_count(net, "type=list_forms"), 1, "the cached list is used");
	cr_expect_eq(net_log_count(net, "type=get_form_schema"), 1, "the cached schema is used");

	/* Kept per hub, for the user only. */
	list = cache_file("forms-*.pb");
	cr_assert_eq(stat(list, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	*strrchr(list, '/') = '\0';
	cr_assert_eq(stat(list, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	free(list);

	/* The hub's forms change: the digest does, and refex sees the new form at once. */
	hub_adds_form("tenancy_help", TENANCY_HELP, AGENCIES_WITH("tenancy_help"), 4);
	REFEX_EXPECT(&r, 0, north, "forms");
	cr_expect(strstr(r.out, "tenancy_help") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_expect_eq(net_log_count(net, "type=list_forms"), 2);
	hub_adds_form("garden_help", GARDEN_HELP, AGENCIES_WITH("tenancy_help, garden_help"), 5);
	REFEX_EXPECT(&r, 0, north, "template", "garden_help");
	cr_expect(strstr(r.out, "Square metres") != NULL, "%s", r.out);
	run_result_free(&r);
	free(cache_file("forms-*.pb")); /* one list: the old one went */
	net_expect_clean_stop(net);
}

Test(client_forms, a_corrupt_cache_is_fetched_again_not_trusted)
{
	static const char junk[] = "\x0a\xff\xff\xff\xff\x0f not a descriptor set";
	struct run_result r;
	char *schema, *list;

	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	schema = cache_file("form-housing_support-v1.pb");
	list = cache_file("forms-*.pb");
	scribble(schema, junk, sizeof(junk) - 1);
	scribble(list, junk, sizeof(junk) - 1);

	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	cr_expect(strstr(r.out, "currentSituation") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_expect_eq(net_log_count(net, "type=list_forms"), 2, "the corrupt list was refetched");
	cr_expect_eq(net_log_count(net, "type=get_form_schema"), 2,
	             "the corrupt schema was refetched");
	/* ... and the cache holds good copies again. */
	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	cr_expect_eq(net_log_count(net, "type=get_form_schema"), 2);
	free(schema);
	free(list);
	net_expect_clean_stop(net);
}

Test(client_forms, a_template_works_offline_from_the_cache_and_says_so)
{
	struct run_result r;

	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	net_expect_clean_stop(net);

	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	cr_expect(strstr(r.out, "currentSituation") != NULL, "%s", r.out);
	cr_expect(strstr(r.err, "working offline, with the hub's forms as cached on") != NULL, "%s",
	          r.err);
	run_result_free(&r);
	/* A form never fetched cannot be made up. */
	REFEX_EXPECT(&r, 3, north, "template", "food_support");
	cr_expect(strstr(r.err, "form 'food_support' version 1 is not cached") != NULL, "%s",
	          r.err);
	cr_expect_str_empty(r.out);
	run_result_free(&r);
}

Test(client_forms, an_unknown_form_is_named_with_the_hubs_forms)
{
	struct run_result r;

	REFEX_EXPECT(&r, 2, north, "submit", "--to", "eastside-housing", "--form", "pizza",
	             "--client", FIXTURE("client.json"), "--data", FIXTURE("housing.json"));
	cr_expect(strstr(r.err, "unknown form 'pizza'; this hub's forms: debt_advice, "
	                        "food_support, housing_support") != NULL,
	          "%s", r.err);
	run_result_free(&r);
	REFEX_EXPECT(&r, 2, north, "template", "pizza");
	cr_expect(strstr(r.err, "unknown form 'pizza'") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "client, consent") != NULL, "%s", r.err);
	run_result_free(&r);
	REFEX_EXPECT(&r, 2, north, "template", "../../etc/passwd");
	cr_expect(strstr(r.err, "unknown form '../../etc/passwd'") != NULL, "%s", r.err);
	run_result_free(&r);
}
