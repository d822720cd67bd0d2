/* refex-bench connections: TLS, Hello, then keep `pipeline` requests in flight. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "frame.h"
#include "refex.pb-c.h"
#include "tls.h"

#define PIPELINE_MAX 256

enum conn_state { CONN_CONNECTING, CONN_HELLO, CONN_RUNNING, CONN_HTTP, CONN_API };

struct slot {
	uint64_t id;
	struct timespec t;
};

struct conn {
	struct bench *b;
	struct bufferevent *bev;
	enum conn_state state;
	uint64_t next_id;
	int inflight;
	struct slot slots[PIPELINE_MAX];
	struct timespec opened;
};

static void conn_open(struct bench *b);
static void conn_idle_ready(struct bench *b);

/* Say whether each connection is one request (--op hello, --https): counted as it opens. */
static bool conn_is_request(const struct bench *b)
{
	return b->o.https != NULL || b->o.op == OP_HELLO;
}

/* Return microseconds since t. */
uint64_t bench_since_us(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)((now.tv_sec - t->tv_sec) * 1000000 + (now.tv_nsec - t->tv_nsec) / 1000);
}

/* Say whether another request may be started. */
bool bench_may_send(struct bench *b)
{
	if (b->stopping) {
		return false;
	}
	if (b->o.requests > 0 && b->sent >= b->o.requests) {
		return false;
	}
	return true;
}

/* Record one answered request. */
void bench_record(struct bench *b, int status, uint64_t us)
{
	if (b->n_lat == b->cap_lat) {
		size_t cap = b->cap_lat ? b->cap_lat * 2 : 65536;
		uint32_t *grown = realloc(b->lat_us, cap * sizeof(*grown));

		if (grown == NULL) {
			return;
		}
		b->lat_us = grown;
		b->cap_lat = cap;
	}
	b->lat_us[b->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	b->done++;
	if (status >= 0 && status < BENCH_STATUS_MAX) {
		b->by_status[status]++;
	}
}

static void conn_write_frame(struct conn *c, uint64_t id, const uint8_t *body, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	uint8_t tag[11];
	size_t n = 0;

	/* A protobuf message is the concatenation of its fields: put the id field first. */
	tag[n++] = 0x08;
	do {
		tag[n++] = (uint8_t)((id & 0x7f) | (id > 0x7f ? 0x80 : 0));
		id >>= 7;
	} while (id != 0);
	/* One commit, so the frame goes out as one TLS record. */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_LEN + n + len), &v, 1) < 1) {
		return;
	}
	frame_put_header(v.iov_base, (uint32_t)(n + len));
	memcpy((uint8_t *)v.iov_base + FRAME_HEADER_LEN, tag, n);
	memcpy((uint8_t *)v.iov_base + FRAME_HEADER_LEN + n, body, len);
	v.iov_len = FRAME_HEADER_LEN + n + len;
	evbuffer_commit_space(out, &v, 1);
}

static void conn_send_packed(struct conn *c, const Refex__Request *req)
{
	size_t len = refex__request__get_packed_size(req);
	uint8_t *buf = malloc(len + 1);

	if (buf != NULL) {
		refex__request__pack(req, buf);
		conn_write_frame(c, c->next_id, buf, len);
		free(buf);
	}
}

static void conn_send_show(struct conn *c)
{
	struct bench *b = c->b;
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral get = REFEX__GET_REFERRAL__INIT;

	get.id = b->ids[(size_t)random() % b->n_ids];
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &get;
	conn_send_packed(c, &req);
}

static void conn_send_submit(struct conn *c)
{
	size_t len;
	const uint8_t *body = bench_submit_packed(c->b, c->b->submitted++, &len);

	if (body != NULL) {
		conn_write_frame(c, c->next_id, body, len);
	}
}

/* --api: write op as one HTTP request (keep-alive). */
static void conn_send_api(struct conn *c, enum bench_op op)
{
	size_t len;
	const char *req =
	    bench_api_request(c->b, op, op == OP_SUBMIT ? c->b->submitted++ : 0, &len);

	if (req != NULL) {
		bufferevent_write(c->bev, req, len);
	}
}

static void conn_send_one(struct conn *c)
{
	struct bench *b = c->b;
	enum bench_op op = b->o.op;
	struct slot *s = &c->slots[c->inflight++];

	if (op == OP_MIXED) {
		long r = random() % 10;

		op = r < 5 ? OP_SUBMIT : r < 8 ? OP_INBOX : OP_SHOW;
	}
	if (op == OP_SHOW && b->n_ids == 0) {
		op = OP_SUBMIT;
	}
	c->next_id++;
	s->id = c->next_id;
	clock_gettime(CLOCK_MONOTONIC, &s->t);
	b->sent++;
	if (c->state == CONN_API) {
		conn_send_api(c, op);
		return;
	}
	switch (op) {
	case OP_SUBMIT:
		conn_send_submit(c);
		break;
	case OP_INBOX:
		conn_write_frame(c, c->next_id, b->inbox_body, b->inbox_len);
		break;
	default:
		conn_send_show(c);
		break;
	}
}

static void conn_fill(struct conn *c)
{
	int depth = c->b->o.new_connection ? 1 : c->b->o.pipeline;

	while (c->inflight < depth && bench_may_send(c->b)) {
		conn_send_one(c);
		if (c->b->o.new_connection) {
			break;
		}
	}
}

static void conn_free(struct conn *c, bool reopen)
{
	struct bench *b = c->b;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	bufferevent_free(c->bev);
	free(c);
	b->live--;
	if (reopen && bench_may_send(b)) {
		conn_open(b);
	} else if (b->live == 0) {
		event_base_loopbreak(b->base);
	}
}

static void conn_keep_id(struct bench *b, const Refex__Response *r)
{
	char **grown;

	if (r->body_case != REFEX__RESPONSE__BODY_REFERRAL || r->referral->id == NULL ||
	    b->n_ids >= 100000) {
		return;
	}
	grown = realloc(b->ids, (b->n_ids + 1) * sizeof(*grown));
	if (grown != NULL) {
		b->ids = grown;
		b->ids[b->n_ids] = strdup(r->referral->id);
		b->n_ids += b->ids[b->n_ids] != NULL;
	}
}

/* An idle connection said Hello: open the next one, or say that all are open. */
static void conn_idle_ready(struct bench *b)
{
	if (++b->connections_made == b->o.connections) {
		fprintf(stderr, "refex-bench: %d idle connections open\n", b->o.connections);
	}
	if (b->opened < b->o.connections) {
		conn_open(b);
	}
}

/* Handle one response; return false when the connection is finished. */
/* Record the response with id and status code (r: the whole response, or NULL if only its
 * header was decoded). */
static bool conn_response(struct conn *c, uint64_t id, int code, const Refex__Response *r)
{
	struct bench *b = c->b;

	if (c->state == CONN_HELLO) {
		if (code != REFEX__STATUS_CODE__STATUS_OK) {
			fprintf(stderr, "refex-bench: Hello refused: %s\n",
			        r && r->status && r->status->message ? r->status->message : "?");
			b->transport_errors++;
			return false;
		}
		/* --new-connection --op hello: the Hello was the request. */
		if (b->o.op == OP_HELLO) {
			bench_record(b, code, bench_since_us(&c->opened));
			b->connections_made++;
			return false;
		}
		c->state = CONN_RUNNING;
		if (b->o.idle) {
			conn_idle_ready(b);
			return true;
		}
		conn_fill(c);
		return c->inflight > 0; /* the run may have ended during the handshake */
	}
	for (int i = 0; i < c->inflight; i++) {
		if (c->slots[i].id == id) {
			uint64_t us =
			    bench_since_us(b->o.new_connection ? &c->opened : &c->slots[i].t);

			bench_record(b, code, us);
			c->slots[i] = c->slots[--c->inflight];
			break;
		}
	}
	if (code == REFEX__STATUS_CODE__STATUS_OK && r != NULL) {
		conn_keep_id(b, r);
	}
	if (b->o.new_connection) {
		b->connections_made++;
		return false;
	}
	conn_fill(c);
	return c->inflight > 0 || bench_may_send(b);
}

/* Handle one ServerMessage. While referral ids are being kept (for --op show) it is decoded
 * whole; otherwise only its header: a load generator should not spend more time decoding
 * pages than the server spends sending them. */
static bool conn_message(struct conn *c, const uint8_t *data, size_t len)
{
	Refex__ServerMessageHeader *h;
	Refex__ServerMessage *m;
	bool keep = true;

	if (c->state == CONN_HELLO || c->b->keep_ids) {
		m = refex__server_message__unpack(NULL, len, data);
		if (m != NULL && m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE) {
			keep = conn_response(
			    c, m->response->id,
			    m->response->status ? (int)m->response->status->code : 0, m->response);
		}
		refex__server_message__free_unpacked(m, NULL);
		return keep;
	}
	h = refex__server_message_header__unpack(NULL, len, data);
	if (h != NULL && h->response != NULL) {
		keep =
		    conn_response(c, h->response->id,
		                  h->response->status ? (int)h->response->status->code : 0, NULL);
	}
	refex__server_message_header__free_unpacked(h, NULL);
	return keep;
}

/* Return the HTTP status of a whole response at the start of in (headers, and a body of
 * Content-Length bytes, if any), its length in *whole; 0 while it is incomplete, -1 if it is no
 * HTTP response. */
static int conn_http_status(struct evbuffer *in, size_t *whole)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char head[2048];
	const char *cl;
	size_t hlen;
	int status;

	if (end.pos < 0) {
		return evbuffer_get_length(in) < sizeof(head) ? 0 : -1;
	}
	hlen = (size_t)end.pos + 4;
	if (hlen >= sizeof(head)) {
		return -1;
	}
	evbuffer_copyout(in, head, hlen);
	head[hlen] = '\0';
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status < 100) {
		return -1;
	}
	cl = strcasestr(head, "\r\ncontent-length:");
	*whole =
	    hlen + (cl != NULL && status != 204 && status != 304 ? strtoul(cl + 17, NULL, 10) : 0);
	return evbuffer_get_length(in) < *whole ? 0 : status;
}

/* --https: one response ends the connection; a 2xx answer counts as OK. */
static void conn_http_read(struct conn *c, struct evbuffer *in)
{
	struct bench *b = c->b;
	size_t whole;
	int status = conn_http_status(in, &whole);

	if (status == 0) {
		return;
	}
	if (status >= 200 && status < 300) {
		bench_record(b, REFEX__STATUS_CODE__STATUS_OK, bench_since_us(&c->opened));
		b->connections_made++;
	} else if (b->transport_errors++ == 0 && status < 0) {
		fprintf(stderr, "refex-bench: the server's answer is not HTTP/1.x\n");
	} else if (b->transport_errors == 1) {
		fprintf(stderr, "refex-bench: HTTP status %d from the server\n", status);
	}
	c->inflight = 0;
	conn_free(c, true);
}

/* The refex status an API answer's HTTP status stands for (the door's mapping), or -1. */
static int conn_api_code(int http)
{
	static const struct {
		int http, code;
	} map[] = {{400, REFEX__STATUS_CODE__STATUS_INVALID},
	           {403, REFEX__STATUS_CODE__STATUS_FORBIDDEN},
	           {404, REFEX__STATUS_CODE__STATUS_NOT_FOUND},
	           {409, REFEX__STATUS_CODE__STATUS_CONFLICT},
	           {413, REFEX__STATUS_CODE__STATUS_TOO_LARGE},
	           {503, REFEX__STATUS_CODE__STATUS_UNAVAILABLE}};

	if (http >= 200 && http < 300) {
		return REFEX__STATUS_CODE__STATUS_OK;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].http == http) {
			return map[i].code;
		}
	}
	return -1;
}

/* --api: answers come in order, one per request, on a connection kept alive. */
static void conn_api_read(struct conn *c, struct evbuffer *in)
{
	size_t whole;
	int status, code;

	while (c->inflight > 0 && (status = conn_http_status(in, &whole)) != 0) {
		if (status < 0 || (code = conn_api_code(status)) < 0) {
			if (c->b->transport_errors++ == 0) {
				fprintf(stderr, "refex-bench: HTTP status %d from the server\n",
				        status);
			}
			conn_free(c, false);
			return;
		}
		evbuffer_drain(in, whole);
		if (!conn_response(c, c->slots[0].id, code, NULL)) {
			conn_free(c, true);
			return;
		}
	}
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state == CONN_HTTP) {
		conn_http_read(c, in);
		return;
	}
	if (c->state == CONN_API) {
		conn_api_read(c, in);
		return;
	}
	for (;;) {
		size_t avail = evbuffer_get_length(in), len;
		uint8_t hdr[FRAME_HEADER_LEN];
		bool keep;

		evbuffer_copyout(in, hdr, avail < sizeof(hdr) ? avail : sizeof(hdr));
		enum frame_result fr = frame_parse(hdr, avail, 64u * 1024 * 1024, &len);
		if (fr == FRAME_NEED_MORE) {
			return;
		}
		if (fr == FRAME_BAD) {
			c->b->transport_errors++;
			conn_free(c, true);
			return;
		}
		keep = conn_message(
		    c, evbuffer_pullup(in, (ev_ssize_t)(len + FRAME_HEADER_LEN)) + FRAME_HEADER_LEN,
		    len);
		evbuffer_drain(in, len + FRAME_HEADER_LEN);
		if (!keep) {
			conn_free(c, true);
			return;
		}
	}
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello hello = REFEX__HELLO__INIT;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &(int){1},
		           sizeof(int));
		if (conn_is_request(c->b)) {
			c->inflight = 1;
		}
		if (c->b->o.https != NULL) {
			c->state = CONN_HTTP;
			bufferevent_write(bev, c->b->http_request, c->b->http_len);
			return;
		}
		if (c->b->o.api) {
			c->state = CONN_API;
			conn_fill(c);
			return;
		}
		hello.has_protocol_version = 1;
		hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
		hello.program = "refex-bench";
		req.body_case = REFEX__REQUEST__BODY_HELLO;
		req.hello = &hello;
		c->state = CONN_HELLO;
		conn_send_packed(c, &req);
		return;
	}
	if (!c->b->stopping || c->inflight > 0) {
		c->b->transport_errors++;
		if (c->b->transport_errors == 1) {
			char why[256];

			tls_describe_failure(bufferevent_openssl_get_ssl(bev), -1, why,
			                     sizeof(why));
			fprintf(stderr, "refex-bench: connection failed: %s\n", why);
		}
	}
	/* Do not hammer a server that refuses us: only a running connection is replaced. */
	conn_free(c, c->state == CONN_RUNNING || c->state == CONN_API);
}

static void conn_open(struct bench *b)
{
	struct conn *c;
	SSL *ssl;

	if (conn_is_request(b)) {
		if (!bench_may_send(b)) {
			return;
		}
		b->sent++;
	}
	c = calloc(1, sizeof(*c));
	ssl = SSL_new(b->ctx);
	if (c == NULL || ssl == NULL || tls_client_expect_host(ssl, b->host) < 0) {
		free(c);
		SSL_free(ssl);
		b->transport_errors++;
		return;
	}
	c->b = b;
	b->opened++;
	clock_gettime(CLOCK_MONOTONIC, &c->opened);
	c->bev = bufferevent_openssl_socket_new(b->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		free(c);
		b->transport_errors++;
		return;
	}
	b->live++;
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&b->addr, (int)b->addrlen) < 0) {
		conn_free(c, false);
	}
}

static void bench_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	(void)fd;
	(void)what;
	b->stopping = true;
	if (b->live == 0 || b->o.idle) {
		event_base_loopbreak(b->base);
	}
}

/* Open every connection and run the load until the duration or request count is reached. */
int bench_run(struct bench *b)
{
	struct event *timer = NULL;
	struct timeval tv;

	b->stopping = false;
	b->sent = b->done = 0;
	clock_gettime(CLOCK_MONOTONIC, &b->start);
	if (b->o.duration > 0) {
		tv.tv_sec = (time_t)b->o.duration;
		tv.tv_usec = (suseconds_t)((b->o.duration - (double)tv.tv_sec) * 1e6);
		timer = evtimer_new(b->base, bench_timeout, b);
		evtimer_add(timer, &tv);
	}
	/* Idle connections open a few at a time, so the listen backlog never overflows. */
	for (int i = 0; i < (b->o.idle && b->o.connections > 64 ? 64 : b->o.connections); i++) {
		conn_open(b);
	}
	if (b->live > 0) {
		event_base_dispatch(b->base);
	}
	clock_gettime(CLOCK_MONOTONIC, &b->end);
	if (timer) {
		event_free(timer);
	}
	return b->done > 0 || (b->o.idle && b->connections_made > 0) ? 0 : -1;
}
