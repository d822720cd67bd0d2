/* refex learns the forms from the hub it talks to: a form the hub took this morning is used
 * from an unchanged refex, the forms are cached per hub and refreshed when the hub's change,
 * and neither a corrupt cache nor a hostile hub can crash it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_forms.h"
#include "tls.h"

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

/* Version 2 of tenancy_help: one more, optional, question. */
#define TENANCY_HELP_V2                                                                            \
	"syntax = \"proto2\";\n"                                                                   \
	"package partnership;\n"                                                                   \
	"// Tenancy help\n"                                                                        \
	"// version: 2\n"                                                                          \
	"message TenancyHelp {\n"                                                                  \
	"  // Rooms needed\n"                                                                      \
	"  required uint32 rooms = 1;\n"                                                           \
	"  optional string landlord_contacted = 2;\n"                                              \
	"  // Pets in the household\n"                                                             \
	"  optional bool pets = 3;\n"                                                              \
	"}\n"

Test(client_forms, a_referral_is_shown_with_the_version_it_recorded_new_ones_use_the_new)
{
	char id[REFEX_ID_LEN + 1], *data;
	struct run_result r;
	int fetched;
	json_t *j;

	hub_adds_form("tenancy_help", TENANCY_HELP, AGENCIES_WITH("tenancy_help"), 4);
	data = net_write_file(net, "tenancy.json", "{\"rooms\": 2}");
	REFEX_EXPECT(&r, 0, north, "submit", "--to", "eastside-housing", "--form", "tenancy_help",
	             "--client", FIXTURE("client.json"), "--consent", FIXTURE("consent.json"),
	             "--data", data);
	snprintf(id, sizeof(id), "%s", run_line(&r));
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, east, "show", id);
	run_result_free(&r);

	hub_adds_form("tenancy_help", TENANCY_HELP_V2, AGENCIES_WITH("tenancy_help"), 4);
	/* The version 1 referral is still read as version 1, as cached: nothing is fetched. */
	fetched = net_log_count(net, "type=get_form_schema");
	REFEX_EXPECT(&r, 0, east, "show", id);
	cr_expect(strstr(r.out, "Tenancy help (tenancy_help, version 1)") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "Rooms needed: 2") != NULL, "%s", r.out);
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, east, "show", id, "--json");
	j = run_json(&r);
	cr_expect_eq(json_integer_value(json_object_get(j, "formVersion")), 1, "%s", r.out);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "formData"), "rooms")),
	             2, "%s", r.out);
	json_decref(j);
	run_result_free(&r);
	cr_expect_eq(net_log_count(net, "type=get_form_schema"), fetched,
	             "version 1 came from the cache, not the version in force from the hub");
	/* The form in force is version 2: its template has the new question. */
	REFEX_EXPECT(&r, 0, north, "template", "tenancy_help");
	cr_expect(strstr(r.out, "Pets in the household") != NULL, "%s", r.out);
	run_result_free(&r);
	/* A new referral is made on version 2, and says so. */
	REFEX_EXPECT(&r, 0, north, "submit", "--json", "--to", "eastside-housing", "--form",
	             "tenancy_help", "--client", FIXTURE("client.json"), "--consent",
	             FIXTURE("consent.json"), "--data", data);
	j = run_json(&r);
	cr_expect_eq(json_integer_value(json_object_get(j, "formVersion")), 2, "%s", r.out);
	json_decref(j);
	run_result_free(&r);
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

Test(client_forms, the_cache_stays_under_its_cap_dropping_the_oldest_schemas)
{
	struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	struct run_result r;
	char *housing, *big, *food;
	int fd;

	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	housing = cache_file("form-housing_support-v1.pb");
	/* An old schema of 40 MiB (sparse: it takes no disk) fills the cache past its cap. */
	big = strdup(housing);
	strcpy(strrchr(big, '/'), "/form-old_form-v1.pb");
	cr_assert_geq(fd = open(big, O_WRONLY | O_CREAT | O_EXCL, 0600), 0);
	cr_assert_eq(ftruncate(fd, 40 * 1024 * 1024), 0);
	cr_assert_eq(futimens(fd, old), 0);
	close(fd);

	REFEX_EXPECT(&r, 0, north, "template", "food_support");
	run_result_free(&r);
	cr_expect_neq(access(big, F_OK), 0, "the oldest schema went to make room");
	cr_expect_eq(access(housing, F_OK), 0, "a newer one stays");
	food = cache_file("form-food_support-v1.pb");
	free(food);
	free(big);
	free(housing);
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

/*
 * A fake hub with the real hub's certificate: it answers Hello, lists one form, "evil", and
 * answers every request for its schema with the bytes it is given (NULL: as a hub older than
 * GetFormSchema does, STATUS_UNSUPPORTED). One connection at a time, in a thread.
 */
struct fake_hub {
	SSL_CTX *ctx;
	int fd, port;
	pthread_t thread;
	atomic_int stop;
	const uint8_t *schema;
	size_t len;
};

/* Read exactly n bytes from ssl; 0 or -1. */
static int fake_read(SSL *ssl, uint8_t *buf, size_t n)
{
	size_t got = 0;
	int r;

	while (got < n) {
		if ((r = SSL_read(ssl, buf + got, (int)(n - got))) <= 0) {
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* Send resp as a framed ServerMessage. */
static void fake_send(SSL *ssl, Refex__Response *resp)
{
	Refex__ServerMessage sm = REFEX__SERVER_MESSAGE__INIT;
	size_t len;
	uint8_t *buf;

	sm.body_case = REFEX__SERVER_MESSAGE__BODY_RESPONSE;
	sm.response = resp;
	len = refex__server_message__get_packed_size(&sm);
	buf = malloc(len + 4);
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	refex__server_message__pack(&sm, buf + 4);
	SSL_write(ssl, buf, (int)(len + 4));
	free(buf);
}

/* Answer one request as the fake hub. */
static void fake_answer(struct fake_hub *h, SSL *ssl, const Refex__Request *req)
{
	Refex__Response resp = REFEX__RESPONSE__INIT;
	Refex__Status st = REFEX__STATUS__INIT;
	Refex__HelloReply hello = REFEX__HELLO_REPLY__INIT;
	Refex__FormInfo info = REFEX__FORM_INFO__INIT, *infos[] = {&info};
	Refex__FormList list = REFEX__FORM_LIST__INIT;
	Refex__FormSchema fs = REFEX__FORM_SCHEMA__INIT;

	resp.has_id = 1;
	resp.id = req->id;
	resp.status = &st;
	st.has_code = 1;
	st.code = REFEX__STATUS_CODE__STATUS_OK;
	if (req->body_case == REFEX__REQUEST__BODY_HELLO) {
		hello.agency = "north-advice";
		hello.holder = "Priya Shah";
		hello.forms_digest = "fake-1";
		resp.body_case = REFEX__RESPONSE__BODY_HELLO;
		resp.hello = &hello;
	} else if (req->body_case == REFEX__REQUEST__BODY_LIST_FORMS) {
		info.name = "evil";
		info.has_version = 1;
		info.version = 1;
		info.title = "Evil";
		list.n_forms = 1;
		list.forms = infos;
		resp.body_case = REFEX__RESPONSE__BODY_FORMS;
		resp.forms = &list;
	} else if (req->body_case == REFEX__REQUEST__BODY_GET_FORM_SCHEMA && h->schema) {
		fs.form = "evil";
		fs.has_version = 1;
		fs.version = 1;
		fs.has_descriptor_set = 1;
		fs.descriptor_set.data = (uint8_t *)h->schema;
		fs.descriptor_set.len = h->len;
		resp.body_case = REFEX__RESPONSE__BODY_FORM_SCHEMA;
		resp.form_schema = &fs;
	} else {
		st.code = REFEX__STATUS_CODE__STATUS_UNSUPPORTED;
		st.message = "unknown request type";
	}
	fake_send(ssl, &resp);
}

/* Serve one connection until the client goes. */
static void fake_serve(struct fake_hub *h, int fd)
{
	SSL *ssl = SSL_new(h->ctx);
	uint8_t hdr[4], *payload;
	Refex__Request *req;
	size_t len;

	if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
		while (fake_read(ssl, hdr, 4) == 0) {
			len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
			      hdr[3];
			if (len > 65536 || !(payload = malloc(len ? len : 1)) ||
			    fake_read(ssl, payload, len) < 0) {
				break;
			}
			req = refex__request__unpack(NULL, len, payload);
			free(payload);
			if (!req) {
				break;
			}
			fake_answer(h, ssl, req);
			refex__request__free_unpacked(req, NULL);
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
}

static void *fake_main(void *arg)
{
	struct fake_hub *h = arg;
	struct pollfd p = {.fd = h->fd, .events = POLLIN};
	int fd;

	while (!atomic_load(&h->stop)) {
		if (poll(&p, 1, 100) == 1 && (fd = accept(h->fd, NULL, NULL)) >= 0) {
			fake_serve(h, fd);
		}
	}
	return NULL;
}

/* Start a fake hub on 127.0.0.1 (any port) serving schema (len bytes; NULL: unsupported). */
static struct fake_hub *fake_hub_start(const uint8_t *schema, size_t len)
{
	struct fake_hub *h = calloc(1, sizeof(*h));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	char cert[NET_PATH_MAX + 16], key[NET_PATH_MAX + 16], err[256];
	struct tls_paths paths = {cert, key, net->ca, NULL};

	snprintf(cert, sizeof(cert), "%s/server.crt", net->dir);
	snprintf(key, sizeof(key), "%s/server.key", net->dir);
	cr_assert_not_null(h);
	cr_assert_not_null(h->ctx = tls_server_ctx_new(&paths, err, sizeof(err)), "%s", err);
	h->schema = schema;
	h->len = len;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(h->fd, 8), 0);
	cr_assert_eq(getsockname(h->fd, (struct sockaddr *)&sa, &salen), 0);
	h->port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&h->thread, NULL, fake_main, h), 0);
	return h;
}

static void fake_hub_free(struct fake_hub *h)
{
	atomic_store(&h->stop, 1);
	pthread_join(h->thread, NULL);
	close(h->fd);
	SSL_CTX_free(h->ctx);
	free(h);
}

/* Run refex template evil as north against fake hub h; return what ran (free it). */
static void template_from_fake(struct fake_hub *h, struct run_result *r)
{
	int port = net->port;

	net->port = h->port; /* run_refex dials the net's port */
	run_refex(r, net, north, "template", "evil", NULL);
	net->port = port;
}

Test(client_forms, a_hub_sending_a_bad_huge_or_wrong_schema_cannot_crash_refex)
{
	static const uint8_t junk[] = "\x0a\xff\xff\xff\xff\x0f\x12\x03"
	                              "abc";
	size_t huge_len = 2 * 1024 * 1024, other_len;
	uint8_t *huge = calloc(1, huge_len), *other;
	struct run_result r;
	struct fake_hub *h;
	char *path;

	/* A real schema, of another form than the one asked for. */
	REFEX_EXPECT(&r, 0, north, "template", "housing_support");
	run_result_free(&r);
	path = cache_file("form-housing_support-v1.pb");
	cr_assert_not_null(other = (uint8_t *)harness_read_file(path, &other_len));
	free(path);
	net_expect_clean_stop(net);

	h = fake_hub_start(junk, sizeof(junk) - 1);
	template_from_fake(h, &r);
	cr_expect_eq(r.status, 1, "malformed: exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "the hub sent a schema of form 'evil' (version 1) that refex "
	                        "cannot use: ") != NULL,
	          "%s", r.err);
	cr_expect_str_empty(r.out);
	run_result_free(&r);
	fake_hub_free(h);

	memset(huge, 0x0a, 16);
	h = fake_hub_start(huge, huge_len);
	template_from_fake(h, &r);
	cr_expect_eq(r.status, 1, "huge: exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "form 'evil'") != NULL, "%s", r.err);
	run_result_free(&r);
	fake_hub_free(h);

	h = fake_hub_start(other, other_len);
	template_from_fake(h, &r);
	cr_expect_eq(r.status, 1, "another form: exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "it holds no version 1 of the form") != NULL, "%s", r.err);
	run_result_free(&r);
	fake_hub_free(h);

	/* Nothing of it was cached: the same hub, now older, is asked again. */
	h = fake_hub_start(NULL, 0);
	template_from_fake(h, &r);
	cr_expect_eq(r.status, 1, "unsupported: exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "this hub does not send the schemas of its forms") != NULL, "%s",
	          r.err);
	run_result_free(&r);
	fake_hub_free(h);
	free(huge);
	free(other);
}

Test(client_forms, no_form_is_compiled_into_refex_or_refexd)
{
	cr_expect_not(net_file_holds(net, REFEX_PATH, "refex.forms.HousingSupport"));
	cr_expect_not(net_file_holds(net, REFEXD_PATH, "refex.forms.HousingSupport"));
	cr_expect(net_file_holds(net, REFEX_PATH, "refex.ClientRecord"), "the check sees names");
}

/* The README's "Agreeing a form", as a partnership admin and a caseworker follow it: the
 * example form file (docs/examples/forms, the same text as the README shows) is taken by a
 * reload, its template shows the labels and the rules, a referral on it is made and shown,
 * and an answer breaking a rule is refused naming the field. */
Test(client_forms, the_readme_worked_example_works)
{
	char id[REFEX_ID_LEN + 1], *text, *blank;
	struct run_result r;
	json_t *j;

	cr_assert_not_null(
	    text = harness_read_file(REFEX_EXAMPLE_FORMS_DIR "/tenancy_sustainment.proto", NULL));
	hub_adds_form("tenancy_sustainment", text, AGENCIES_WITH("tenancy_sustainment"), 4);
	free(text);

	REFEX_EXPECT(&r, 0, north, "template", "tenancy_sustainment");
	j = run_json(&r);
	cr_expect_str_eq(json_string_value(json_object_get(j, "landlord")),
	                 "<required one of: PRIVATE_LANDLORD|HOUSING_ASSOCIATION|COUNCIL> Who the "
	                 "landlord is",
	                 "a choice whose zero is no answer is not offered: %s", r.out);
	cr_expect_str_eq(json_string_value(json_object_get(j, "hearingDate")),
	                 "<optional string> Date of the court hearing [a date YYYY-MM-DD, today or "
	                 "later] (Leave it out when there is no hearing.)");
	cr_expect_str_eq(json_string_value(json_object_get(j, "helpWanted")),
	                 "<required string> What the tenant wants help with [not blank, at most "
	                 "500 characters]");
	json_decref(j);
	run_result_free(&r);

	REFEX_EXPECT(&r, 0, north, "submit", "--to", "eastside-housing", "--form",
	             "tenancy_sustainment", "--client", FIXTURE("client.json"), "--consent",
	             FIXTURE("consent.json"), "--data", FIXTURE("tenancy_sustainment.json"));
	snprintf(id, sizeof(id), "%s", run_line(&r));
	run_result_free(&r);
	REFEX_EXPECT(&r, 0, east, "show", id);
	cr_expect(strstr(r.out, "Tenancy sustainment (tenancy_sustainment, version 1)"), "%s",
	          r.out);
	cr_expect(strstr(r.out, "What the tenant wants help with: a payment plan for the arrears"),
	          "%s", r.out);
	run_result_free(&r);

	blank = net_write_file(net, "blank.json",
	                       "{\"landlord\": \"COUNCIL\", \"helpWanted\": \"  \"}");
	REFEX_EXPECT(&r, 1, north, "submit", "--to", "eastside-housing", "--form",
	             "tenancy_sustainment", "--client", FIXTURE("client.json"), "--consent",
	             FIXTURE("consent.json"), "--data", blank);
	cr_expect(strstr(r.err, "formData.helpWanted: left blank") != NULL, "%s", r.err);
	run_result_free(&r);
	free(blank);
	net_expect_clean_stop(net);
}
