/*
 * Fuzz request handling from raw bytes to the store: the input is what one partner sends on a
 * connection, fed to a real session (daemon/session.c, through session_new_open: the same
 * framing, decoding and dispatch as refexd, without TLS) over a bufferevent pair, with a real
 * store on a temporary SQLite file. The loop runs until every write has committed and every
 * request is answered; each reply must be a well-formed ServerMessage frame.
 *
 * Input: byte 0 picks the peer (bits 0-1: north-advice, eastside-housing, an agency not in
 * the partnership), which side of a fresh referral it is on (bit 2: it receives one;
 * otherwise it sent one) and how the rest arrives (bit 3: all at once, pipelined; otherwise
 * one frame at a time, each answered and committed before the next, like a client that
 * waits for its replies). Every "REFERRAL-ID-HERE" (16 bytes) in the rest is replaced with
 * the referral's id, so Get and Update reach a real referral. The rest is the byte stream:
 * frames of Requests, as the seeds in corpus/request/ show.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.pb-c.h"
#include "config.h"
#include "form.h"
#include "frame.h"
#include "fuzz_check.h"
#include "fuzz_tmp.h"
#include "hub.h"
#include "log.h"
#include "session.h"
#include "store.h"

#define PLACEHOLDER          "REFERRAL-ID-HERE"
#define CLIENT_PLACEHOLDER   "CLIENT-ID-HERE00" /* the referral's stored client */
#define FRESH_DATABASE_EVERY 500                /* inputs */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {"refexd.ini", "refex.db", "refex.db-wal", "refex.db-shm", NULL};
static const char *const peers[] = {"north-advice", "eastside-housing", "stranger"};

static bool verbose; /* REFEX_FUZZ_VERBOSE=1: print every reply (when writing seeds) */
static struct event_base *base;
static struct config *cfg;
static struct store *st;
static struct hub *hub;
static unsigned long inputs;
static uint8_t *client_rec, *consent_rec;
static size_t client_len, consent_len;

static const char config_text[] = "[server]\n"
                                  "listen = 127.0.0.1:0\n"
                                  "certificate = server.crt\n"
                                  "key = server.key\n"
                                  "ca = ca.crt\n"
                                  "database = refex.db\n"
                                  "log_level = error\n"
                                  "[limits]\n"
                                  "max_frame = 65536\n"
                                  "page_size = 5\n"
                                  "[agency north-advice]\n"
                                  "accepts = food_support, debt_advice\n"
                                  "[agency eastside-housing]\n"
                                  "accepts = housing_support\n"
                                  "[form housing_support]\n"
                                  "acknowledge_within = 14d\n";

/* Open a store on an empty database, and a hub on it. */
static void store_start(void)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char path[1100], err[512];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->database, suffixes[i]);
		unlink(path);
	}
	if ((st = store_open(cfg->database, base, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_request: %s\n", err);
		abort();
	}
	FUZZ_CHECK((hub = hub_new(base, cfg, NULL, st)) != NULL);
}

/* Free the hub and close the store (sessions are gone after each input; the store finishes
 * what is queued). */
static void store_stop(void)
{
	hub_free(hub);
	store_close(st);
	hub = NULL;
	st = NULL;
}

static void cleanup(void)
{
	store_stop();
	event_base_free(base);
	config_free(cfg);
	free(client_rec);
	free(consent_rec);
}

/* Pack the client record and consent the harness's own referrals carry. */
static void make_records(void)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;
	Refex__Consent k = REFEX__CONSENT__INIT;

	c.given_name = "Fuzz";
	c.family_name = "Client";
	k.to_agency = "north-advice";
	k.purpose = "fuzzing";
	k.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	client_len = refex__client_record__get_packed_size(&c);
	consent_len = refex__consent__get_packed_size(&k);
	FUZZ_CHECK((client_rec = malloc(client_len)) && (consent_rec = malloc(consent_len)));
	refex__client_record__pack(&c, client_rec);
	refex__consent__pack(&k, consent_rec);
}

/* Make the partnership, the store and the hub once per process. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_tmpdir(files);
	char path[1024], err[512];
	FILE *f;

	(void)argc;
	(void)argv;
	FUZZ_CHECK(dir != NULL);
	verbose = getenv("REFEX_FUZZ_VERBOSE") != NULL;
	log_set_level(LOG_LEVEL_ERROR); /* a warning per bad frame would drown the fuzzer */
	/* The example forms, as refexd loads them from its forms directory. */
	form_set_use(form_set_compiled());
	snprintf(path, sizeof(path), "%s/refexd.ini", dir);
	FUZZ_CHECK((f = fopen(path, "w")) != NULL);
	fputs(config_text, f);
	FUZZ_CHECK(fclose(f) == 0);
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_request: %s\n", err);
		abort();
	}
	FUZZ_CHECK((base = event_base_new()) != NULL);
	store_start();
	make_records();
	atexit(cleanup);
	return 0;
}

static void inserted(enum store_status status, const struct store_result *res, void *arg)
{
	(void)res;
	FUZZ_CHECK(status == STORE_OK);
	*(bool *)arg = true;
}

/* Store a new referral between me and the other partner (me receiving it, or sending it),
 * sharing a new stored client of the sender's (its id into cid) under a consent. */
static void make_referral(const char *me, bool me_receives, char *id, char *cid)
{
	const char *other = strcmp(me, peers[0]) == 0 ? peers[1] : peers[0];
	const char *recipient = me_receives ? me : other;
	bool done = false;
	struct store_new_referral r = {
	    .id = id,
	    .sender = me_receives ? other : me,
	    .sender_holder = "Fuzz Holder",
	    .recipient = recipient,
	    .form = strcmp(recipient, peers[0]) == 0 ? "food_support" : "housing_support",
	    .form_version = 1,
	    .created_at = (int64_t)time(NULL),
	    .client_name = "Fuzz Client",
	    .client = client_rec,
	    .client_len = client_len,
	    .consent = consent_rec,
	    .consent_len = consent_len,
	    .form_data = (const uint8_t *)"\x08\x01",
	    .form_data_len = 2,
	};

	store_new_id(id);
	store_new_id(r.client_id);
	store_new_id(r.consent_id);
	memcpy(cid, r.client_id, STORE_ID_LEN + 1);
	FUZZ_CHECK(store_insert(st, &r, inserted, &done) == 0);
	while (!done) {
		event_base_loop(base, EVLOOP_ONCE);
	}
}

/* The peer's end: every reply must be a whole, decodable ServerMessage frame. */
static void peer_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t len;

	(void)arg;
	while (evbuffer_copyout(in, hdr, sizeof(hdr)) == (ev_ssize_t)sizeof(hdr) &&
	       frame_parse(hdr, evbuffer_get_length(in), UINT32_MAX, &len) == FRAME_OK) {
		const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + len));
		Refex__ServerMessage *m;

		FUZZ_CHECK(p != NULL);
		m = refex__server_message__unpack(NULL, len, p + FRAME_HEADER_LEN);
		FUZZ_CHECK(m != NULL);
		FUZZ_CHECK(m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE ||
		           m->body_case == REFEX__SERVER_MESSAGE__BODY_EVENT);
		FUZZ_CHECK(m->body_case != REFEX__SERVER_MESSAGE__BODY_RESPONSE ||
		           (m->response->status != NULL && m->response->status->has_code));
		if (verbose && m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE) {
			fprintf(stderr, "fuzz_request: reply id=%llu code=%d message=\"%s\"\n",
			        (unsigned long long)m->response->id, (int)m->response->status->code,
			        m->response->status->message ? m->response->status->message : "");
		} else if (verbose) {
			fprintf(stderr, "fuzz_request: event\n");
		}
		refex__server_message__free_unpacked(m, NULL);
		evbuffer_drain(in, FRAME_HEADER_LEN + len);
	}
}

/* Run the loop until nothing is left to do: no write queued, no request unanswered, no
 * callback pending. A request that is never answered hangs here: libFuzzer's -timeout. */
static void run_until_quiet(void)
{
	size_t unsent;

	for (;;) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (store_pending(st) > 0 || session_unanswered_all(hub, &unsent) > 0) {
			event_base_loop(base, EVLOOP_ONCE); /* the storage thread wakes it */
			continue;
		}
		if (event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) == 0) {
			return;
		}
	}
}

/* Copy the stream, with each placeholder replaced by the referral's id or its client's. */
static uint8_t *stream_copy(const uint8_t *data, size_t size, const char *id, const char *cid)
{
	uint8_t *copy = malloc(size + 1);
	const size_t n = strlen(PLACEHOLDER);

	_Static_assert(sizeof(PLACEHOLDER) == sizeof(CLIENT_PLACEHOLDER), "one length");
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	for (size_t i = 0; size >= n && i <= size - n; i++) {
		if (memcmp(copy + i, PLACEHOLDER, n) == 0) {
			memcpy(copy + i, id, n);
		} else if (memcmp(copy + i, CLIENT_PLACEHOLDER, n) == 0) {
			memcpy(copy + i, cid, n);
		}
	}
	return copy;
}

/* Send the stream from the peer's end: all at once, or a whole frame at a time (the rest, once
 * it is no whole frame) with the loop run dry after each. */
static void feed(struct session *s, struct bufferevent *peer, const uint8_t *stream, size_t n,
                 bool pipelined)
{
	size_t off = 0, len, chunk;

	while (off < n && session_is_open(s)) {
		chunk = n - off;
		if (!pipelined &&
		    frame_parse(stream + off, n - off, UINT32_MAX, &len) == FRAME_OK) {
			chunk = FRAME_HEADER_LEN + len;
		}
		FUZZ_CHECK(bufferevent_write(peer, stream + off, chunk) == 0);
		run_until_quiet();
		off += chunk;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct identity who = {.holder = "Fuzz Holder", .serial = "01", .fingerprint = "-"};
	struct bufferevent *pair[2];
	struct session *s;
	char id[STORE_ID_LEN + 1] = PLACEHOLDER, cid[STORE_ID_LEN + 1] = CLIENT_PLACEHOLDER;
	uint8_t *stream;

	if (size < 1) {
		return 0;
	}
	/* A database that grew for ever would slow every input down (a Watch from seq 1 replays
	 * the agency's whole history): start afresh now and then. */
	if (++inputs % FRESH_DATABASE_EVERY == 0) {
		store_stop();
		store_start();
	}
	snprintf(who.agency, sizeof(who.agency), "%s", peers[(data[0] & 3) % 3]);
	if ((data[0] & 3) < 2) {
		make_referral(who.agency, data[0] & 4, id, cid);
	}
	stream = stream_copy(data + 1, size - 1, id, cid);

	FUZZ_CHECK(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair) == 0);
	bufferevent_setcb(pair[1], peer_read, NULL, NULL, NULL);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	FUZZ_CHECK((s = session_new_open(hub, pair[0], &who)) != NULL);
	feed(s, pair[1], stream, size - 1, data[0] & 8);

	/* The peer hangs up; what the session still holds goes with it. */
	if (session_is_open(s)) {
		session_close(s, "fuzz input done");
	}
	session_unref(s);
	bufferevent_free(pair[1]);
	run_until_quiet();
	FUZZ_CHECK(hub->n_sessions == 0);
	free(stream);
	return 0;
}
