/* A misbehaving peer costs only its own connection: garbage, oversized and empty frames are
 * answered where possible and closed, while other partners carry on being served. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "harness.h"

static struct net *net;
static const char *north;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(robustness, .init = setup, .fini = teardown, .timeout = 120);

static size_t put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v > 0);
	return n;
}

/* A connected raw client that has said Hello. */
static struct raw *greeted(void)
{
	struct raw *c = raw_connect(net, north, NULL);

	cr_assert_not_null(c, "raw TLS connection failed");
	cr_assert_eq(raw_hello(c), 0, "Hello was refused");
	return c;
}

/*
 * Send a bad frame on a fresh greeted connection while a bystander is connected.
 * The bad connection may get an error response (expected code want), and must be
 * closed; the bystander must still be answered; refexd must still be running.
 */
static void bad_frame_costs_only_its_connection(const uint8_t *bytes, size_t len,
                                                Refex__StatusCode want)
{
	struct raw *bystander = greeted(), *bad = greeted();
	Refex__ServerMessage *m;

	cr_assert_eq(raw_list_forms(bystander, 10), 3, "the bystander was not served before");
	cr_assert_eq(raw_send_bytes(bad, bytes, len), 0);
	/* No payload follows: the answer must not wait for (or allocate) the announced bytes. */
	m = raw_read_message(bad, HARNESS_READ_TIMEOUT_MS);
	if (m != NULL) {
		cr_expect_eq(m->body_case, REFEX__SERVER_MESSAGE__BODY_RESPONSE);
		cr_expect(m->response == NULL || m->response->id == 0,
		          "the error answer has an id");
		cr_expect(m->response && m->response->status && m->response->status->code == want,
		          "the error answer has status %d, not %d",
		          m->response && m->response->status ? (int)m->response->status->code : -1,
		          (int)want);
		refex__server_message__free_unpacked(m, NULL);
	}
	cr_expect(raw_wait_closed(bad, HARNESS_READ_TIMEOUT_MS),
	          "the connection that sent a bad frame was left open");
	raw_free(bad);

	cr_expect_eq(raw_list_forms(bystander, 11), 3, "the bystander was not served after");
	raw_free(bystander);
	cr_expect_eq(kill(net->pid, 0), 0, "refexd is gone");
	net_expect_clean_stop(net);
}

Test(robustness, a_garbage_frame_closes_only_that_connection)
{
	static const uint8_t garbage[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};

	bad_frame_costs_only_its_connection(garbage, sizeof(garbage),
	                                    REFEX__STATUS_CODE__STATUS_INVALID);
}

Test(robustness, a_frame_announcing_4_gib_is_refused_at_once)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};

	bad_frame_costs_only_its_connection(huge, sizeof(huge),
	                                    REFEX__STATUS_CODE__STATUS_TOO_LARGE);
}

Test(robustness, a_zero_length_frame_closes_the_connection)
{
	static const uint8_t empty[] = {0, 0, 0, 0};

	bad_frame_costs_only_its_connection(empty, sizeof(empty),
	                                    REFEX__STATUS_CODE__STATUS_INVALID);
}

/* protobuf-c's memory budget (proto/pballoc.h): a frame within the size limit whose every
 * 2 bytes is an empty repeated element would cost protobuf-c tens of megabytes to decode. */
Test(robustness, a_frame_of_empty_repeated_elements_is_refused_as_too_large)
{
	enum { N = 500000 };
	static uint8_t frame[4 + 2 * N + 32];
	const size_t client_len = 6 + 2 * N; /* two required names, then N empty access needs */
	size_t off = 4;

	frame[off++] = 3 << 3 | 2; /* Request.submit */
	off += put_varint(frame + off, 1 + 3 + client_len);
	frame[off++] = 5 << 3 | 2; /* SubmitReferral.client */
	off += put_varint(frame + off, client_len);
	memcpy(frame + off,
	       "\x0a\x01"
	       "a\x12\x01"
	       "b",
	       6);
	off += 6;
	for (size_t i = 0; i < N; i++) {
		frame[off++] = 12 << 3 | 2; /* ClientRecord.access_needs */
		frame[off++] = 0;
	}
	cr_assert_leq(off - 4, 1024 * 1024, "the frame is within the default limit");
	frame[0] = (uint8_t)((off - 4) >> 24);
	frame[1] = (uint8_t)((off - 4) >> 16);
	frame[2] = (uint8_t)((off - 4) >> 8);
	frame[3] = (uint8_t)(off - 4);
	bad_frame_costs_only_its_connection(frame, off, REFEX__STATUS_CODE__STATUS_TOO_LARGE);
}

Test(robustness, a_request_before_hello_is_refused)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ServerMessage *m;
	struct raw *c = raw_connect(net, north, NULL);

	cr_assert_not_null(c, "raw TLS connection failed");
	req.has_id = 1;
	req.id = 7;
	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	m = raw_call(c, &req);
	cr_assert_not_null(m, "no answer to a request before Hello");
	cr_expect_eq(m->response->id, 7);
	cr_assert_not_null(m->response->status);
	cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_INVALID);
	cr_expect(m->response->status->message &&
	              strcasestr(m->response->status->message, "hello") != NULL,
	          "the refusal does not say to send Hello first: %s",
	          m->response->status->message ? m->response->status->message : "(none)");
	cr_expect_null(m->response->forms, "forms were listed before Hello");
	refex__server_message__free_unpacked(m, NULL);
	raw_free(c);
}

/* Never assume one read is one message: a Hello dribbled a byte at a time is still answered. */
Test(robustness, a_request_split_into_single_bytes_is_answered)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello hello = REFEX__HELLO__INIT;
	Refex__ServerMessage *m;
	struct raw *c = raw_connect(net, north, NULL);
	uint8_t frame[256];
	size_t n;

	cr_assert_not_null(c, "raw TLS connection failed");
	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	hello.program = "refex-it/0.1.0";
	req.has_id = 1;
	req.id = 99;
	req.body_case = REFEX__REQUEST__BODY_HELLO;
	req.hello = &hello;
	n = refex__request__get_packed_size(&req);
	cr_assert_lt(n + 4, sizeof(frame));
	frame[0] = frame[1] = frame[2] = 0;
	frame[3] = (uint8_t)n;
	refex__request__pack(&req, frame + 4);
	for (size_t i = 0; i < n + 4; i++) {
		cr_assert_eq(raw_send_bytes(c, &frame[i], 1), 0, "write %zu failed", i);
	}
	m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);
	cr_assert_not_null(m, "no answer to a Hello sent byte by byte");
	cr_expect_eq(m->response->id, 99);
	cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_OK);
	cr_expect_str_eq(m->response->hello ? m->response->hello->agency : "", "north-advice");
	refex__server_message__free_unpacked(m, NULL);
	raw_free(c);
}

/* Clients may pipeline: several requests in one write each get their own answer. */
Test(robustness, pipelined_requests_are_all_answered)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	struct raw *c = greeted();
	uint8_t buf[1024];
	size_t off = 0, n;
	bool seen[5] = {false};

	req.has_id = 1;
	req.body_case = REFEX__REQUEST__BODY_LIST_PARTNERS;
	req.list_partners = &lp;
	for (uint64_t id = 100; id < 105; id++) {
		req.id = id;
		n = refex__request__get_packed_size(&req);
		cr_assert_lt(off + n + 4, sizeof(buf));
		buf[off] = buf[off + 1] = buf[off + 2] = 0;
		buf[off + 3] = (uint8_t)n;
		refex__request__pack(&req, buf + off + 4);
		off += n + 4;
	}
	cr_assert_eq(raw_send_bytes(c, buf, off), 0);
	for (int got = 0; got < 5;) {
		Refex__ServerMessage *m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);

		cr_assert_not_null(m, "only %d of 5 pipelined requests were answered", got);
		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE) {
			uint64_t id = m->response->id;

			cr_assert(id >= 100 && id < 105 && !seen[id - 100],
			          "unexpected answer id %llu", (unsigned long long)id);
			seen[id - 100] = true;
			cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_OK);
			cr_expect_eq(m->response->partners ? m->response->partners->n_partners : 0,
			             3);
			got++;
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	raw_free(c);
}

/* One packed frame submitting a housing referral from north-advice to eastside-housing. */
static size_t pack_submit(uint64_t id, uint8_t *out, size_t room)
{
	struct raw_submit s;
	size_t n;

	raw_submit_init(&s, id, "Pat");
	n = refex__request__get_packed_size(&s.req);
	cr_assert_lt(n + 4, room);
	out[0] = out[1] = 0;
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	refex__request__pack(&s.req, out + 4);
	return n + 4;
}

Test(robustness, hundreds_of_pipelined_submissions_are_all_committed_and_answered)
{
	enum { N = 300 }; /* well past the per-connection cap on writes in flight */
	static uint8_t buf[N * 256];
	static bool seen[N];
	struct raw *c = greeted();
	size_t off = 0;

	for (uint64_t i = 0; i < N; i++) {
		off += pack_submit(1000 + i, buf + off, sizeof(buf) - off);
	}
	cr_assert_eq(raw_send_bytes(c, buf, off), 0);
	for (int got = 0; got < N;) {
		Refex__ServerMessage *m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);

		cr_assert_not_null(m, "only %d of %d pipelined submissions were answered", got, N);
		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE) {
			uint64_t i = m->response->id - 1000;

			cr_assert(i < N && !seen[i], "unexpected answer id %llu",
			          (unsigned long long)m->response->id);
			seen[i] = true;
			cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_OK, "%s",
			             m->response->status->message ? m->response->status->message
			                                          : "");
			got++;
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	cr_expect_eq(raw_list_forms(c, 9), 3, "the connection still answers afterwards");
	raw_free(c);
}
