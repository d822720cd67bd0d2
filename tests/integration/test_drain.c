/* SIGTERM drains: every referral a submitter got an OK for is in the database after a
 * restart, every connection ends with a clean TLS close, and refexd exits 0. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "harness.h"

enum {
	SUBMITTERS = 6, /* concurrent connections */
	BATCH = 8,      /* submissions pipelined before reading their replies */
	MAX_IDS = 20000,
};

static struct net *net;

static void setup(void)
{
	net = net_new();
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(drain, .init = setup, .fini = teardown, .timeout = 120);

/* A housing_support submission from north-advice to eastside-housing, with its parts. */
struct submission {
	Refex__Forms__HousingSupport form;
	Refex__ClientRecord client;
	Refex__Consent consent;
	Refex__SubmitReferral sub;
	Refex__Request req;
	uint8_t *data;
};

/* Fill m as request id, asking for support_needs (NULL: none). Free m->data afterwards. */
static void submission_init(struct submission *m, uint64_t id, const char *needs)
{
	*m = (struct submission){.form = REFEX__FORMS__HOUSING_SUPPORT__INIT,
	                         .client = REFEX__CLIENT_RECORD__INIT,
	                         .consent = REFEX__CONSENT__INIT,
	                         .sub = REFEX__SUBMIT_REFERRAL__INIT,
	                         .req = REFEX__REQUEST__INIT};
	m->form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	m->form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__NO_FIXED_ABODE;
	m->form.support_needs = (char *)needs;
	cr_assert_not_null(m->data =
	                       malloc(refex__forms__housing_support__get_packed_size(&m->form)));
	m->client.given_name = "Pat";
	m->client.family_name = "Lee";
	m->consent.to_agency = "eastside-housing";
	m->consent.purpose = "housing support referral";
	m->consent.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	m->sub.to = "eastside-housing";
	m->sub.form = "housing_support";
	m->sub.has_form_data = 1;
	m->sub.form_data.data = m->data;
	m->sub.form_data.len = refex__forms__housing_support__pack(&m->form, m->data);
	m->sub.client = &m->client;
	m->sub.consent = &m->consent;
	m->req.has_id = 1;
	m->req.id = id;
	m->req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	m->req.submit = &m->sub;
}

/* Pack one submission as a frame into out. */
static size_t pack_submit(uint64_t id, uint8_t *out)
{
	struct submission m;
	size_t n;

	submission_init(&m, id, NULL);
	n = refex__request__get_packed_size(&m.req);
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	refex__request__pack(&m.req, out + 4);
	free(m.data);
	return n + 4;
}

/* Read one batch of replies, writing the id of every acknowledged referral to out.
 * Returns how many replies came, which is BATCH unless the connection ended. */
static int read_batch(struct raw *c, FILE *out)
{
	int got = 0;

	while (got < BATCH) {
		Refex__ServerMessage *m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);
		Refex__Response *r;

		if (m == NULL) {
			break;
		}
		r = m->response;
		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE) {
			got++;
			if (r->status && r->status->code == REFEX__STATUS_CODE__STATUS_OK &&
			    r->body_case == REFEX__RESPONSE__BODY_REFERRAL && r->referral->id) {
				fprintf(out, "%s\n", r->referral->id);
				fflush(out);
			}
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	return got;
}

/* A submitter (a child process): submit in pipelined batches until refexd closes, record
 * every acknowledged id in path, then whether the close was clean. Says "ready" on ready_fd
 * once its first batch is acknowledged. */
static void submitter(const char *prefix, const char *path, int ready_fd)
{
	static uint8_t buf[BATCH * 256];
	struct raw *c = raw_connect(net, prefix, NULL);
	FILE *out = fopen(path, "w");
	uint64_t id = 100;
	bool said_ready = false;

	if (c == NULL || out == NULL || raw_hello(c) != 0) {
		_exit(3);
	}
	for (;;) {
		size_t len = 0;

		for (int i = 0; i < BATCH; i++) {
			len += pack_submit(id++, buf + len);
		}
		if (raw_send_bytes(c, buf, len) < 0 || read_batch(c, out) < BATCH) {
			break;
		}
		if (!said_ready) {
			said_ready = write(ready_fd, "r", 1) == 1;
		}
	}
	fprintf(out, "clean=%d\n",
	        raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS) && raw_closed_cleanly(c));
	fclose(out);
	raw_free(c);
	_exit(0);
}

/* Wait until n submitters have said ready (bounded). */
static void wait_ready(int fd, int n)
{
	char byte;

	for (int ready = 0; ready < n;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		cr_assert_gt(poll(&p, 1, HARNESS_START_TIMEOUT_MS), 0,
		             "only %d of %d submitters got going", ready, n);
		cr_assert_eq(read(fd, &byte, 1), 1);
		ready++;
	}
}

/* Read a submitter's file: append its ids to ids, return whether its close was clean. */
static bool collect(const char *path, char (*ids)[REFEX_ID_LEN + 1], size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[64];
	bool clean = false;

	cr_assert_not_null(f, "submitter wrote no %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "clean=", 6) == 0) {
			clean = strcmp(line, "clean=1") == 0;
		} else if (strlen(line) == REFEX_ID_LEN && *n < MAX_IDS) {
			memcpy(ids[(*n)++], line, REFEX_ID_LEN + 1);
		}
	}
	fclose(f);
	return clean;
}

/* Ask for referral id as request req_id; send_only: do not wait for the answer. */
static Refex__ServerMessage *get_referral(struct raw *c, const char *id, uint64_t req_id,
                                          bool send_only)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral get = REFEX__GET_REFERRAL__INIT;

	get.id = (char *)id;
	req.has_id = 1;
	req.id = req_id;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &get;
	if (send_only) {
		cr_assert_eq(raw_send_request(c, &req), 0);
		return NULL;
	}
	return raw_call(c, &req);
}

/* Say whether the sender can read referral id back (status OK). */
static bool stored(struct raw *c, const char *id, uint64_t req_id)
{
	Refex__ServerMessage *m;
	bool ok;

	if ((m = get_referral(c, id, req_id, false)) == NULL) {
		return false;
	}
	ok = m->response->status && m->response->status->code == REFEX__STATUS_CODE__STATUS_OK;
	refex__server_message__free_unpacked(m, NULL);
	return ok;
}

Test(drain, sigterm_during_submissions_loses_no_acknowledged_referral)
{
	static char ids[MAX_IDS][REFEX_ID_LEN + 1];
	const char *north = net_issue(net, "north-advice", "Alice Smith");
	char paths[SUBMITTERS][NET_PATH_MAX + 32];
	pid_t kids[SUBMITTERS];
	int ready[2], status, unclean = 0, missing = 0;
	size_t n = 0;
	struct raw *c;
	char *log;

	cr_assert_eq(pipe(ready), 0);
	for (int i = 0; i < SUBMITTERS; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/acked-%d.txt", net->dir, i);
		cr_assert_geq(kids[i] = fork(), 0);
		if (kids[i] == 0) {
			close(ready[0]);
			submitter(north, paths[i], ready[1]);
		}
	}
	close(ready[1]);
	wait_ready(ready[0], SUBMITTERS);
	close(ready[0]);

	cr_assert_eq(net_stop(net), 0, "refexd exits 0 on SIGTERM under load");
	for (int i = 0; i < SUBMITTERS; i++) {
		cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "submitter %d failed", i);
		unclean += !collect(paths[i], ids, &n);
	}
	cr_expect_eq(unclean, 0, "%d of %d connections ended without a clean TLS close", unclean,
	             SUBMITTERS);
	cr_assert_gt(n, 0, "no submission was acknowledged before the stop");
	log = net_read_log(net);
	cr_expect(strstr(log, "msg=stopping connections=") != NULL, "%s", log);
	cr_expect(strstr(log, "msg=stopped") != NULL, "refexd logs its stop:\n%s", log);
	free(log);

	net_must_start(net);
	c = raw_connect(net, north, NULL);
	cr_assert(c != NULL && raw_hello(c) == 0);
	for (size_t i = 0; i < n; i++) {
		missing += !stored(c, ids[i], 1000 + i);
	}
	cr_expect_eq(missing, 0, "%d of %zu acknowledged referrals are missing after the restart",
	             missing, n);
	raw_free(c);
	net_expect_clean_stop(net);
}

Test(drain, a_second_sigterm_stops_at_once_and_says_what_it_abandoned)
{
	enum { NEEDS = 24 * 1024 * 1024 }; /* one reply larger than loopback's socket buffers */
	const char *north = net_issue(net, "north-advice", "Alice Smith");
	char *needs = malloc(NEEDS + 1), *log;
	struct submission sub;
	Refex__ServerMessage *m;
	char id[REFEX_ID_LEN + 1];
	struct raw *c;

	cr_assert_eq(net_stop(net), 0);
	cr_assert_eq(
	    net_write_config(net, NET_DEFAULT_AGENCIES "\n[limits]\nmax_frame = 67108864\n"), 0);
	net_must_start(net);
	cr_assert_not_null(needs);
	memset(needs, 'x', NEEDS);
	needs[NEEDS] = '\0';
	submission_init(&sub, 2, needs);
	c = raw_connect(net, north, NULL);
	cr_assert(c != NULL && raw_hello(c) == 0);
	m = raw_call(c, &sub.req);
	cr_assert(m && m->response->status->code == REFEX__STATUS_CODE__STATUS_OK &&
	          m->response->referral);
	snprintf(id, sizeof(id), "%s", m->response->referral->id);
	refex__server_message__free_unpacked(m, NULL);
	free(sub.data);
	free(needs);

	/* Ask for it and never read: the reply cannot be flushed, so the drain cannot end. */
	get_referral(c, id, 3, true);
	cr_assert(net_log_wait(net, "type=get status=OK"));
	cr_assert_eq(kill(net->pid, SIGTERM), 0);
	cr_assert(net_log_wait(net, "msg=stopping connections=1"));
	cr_expect_eq(net_stop(net), 0, "the second SIGTERM ends refexd, with status 0");
	log = net_read_log(net);
	cr_expect(strstr(log, "msg=\"stopping now\" abandoned_replies=0 unsent_bytes=") != NULL,
	          "the forced stop says what it abandons:\n%s", log);
	cr_expect(strstr(log, "unsent_bytes=0 ") == NULL, "a reply was still queued:\n%s", log);
	cr_expect(strstr(log, "stop grace time over") == NULL, "it did not wait for the grace");
	cr_expect(strstr(log, "msg=stopped") != NULL, "%s", log);
	free(log);
	raw_free(c);
}
