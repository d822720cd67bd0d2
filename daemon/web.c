/*
 * The HTTPS door. evhttp parses HTTP over libevent's OpenSSL bufferevents made from the hub's
 * TLS context in force (so the same client certificates, CRL and reloads apply); each
 * connection, once its first request shows who holds it, gets a session fed through a
 * bufferevent pair. A request's JSON body becomes the Request's body (pbjson), goes to the
 * session as one frame, and the Response frame that comes back is answered as JSON.
 */
#include "web.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "addr_table.h"
#include "frame.h"
#include "handlers.h"
#include "http_reply.h"
#include "listener.h"
#include "log.h"
#include "pbjson.h"
#include "session.h"
#include "transport.h"
#include "web_forms.h"

#define WEB_API         "/api/v1/"
#define WEB_JSON        "application/json"
#define WEB_JSON_TYPE   "application/json; charset=utf-8"
#define WEB_EVENTS      "events"
#define WEB_FORMS       "forms/" /* GET forms/NAME: a form described for a page */
#define WEB_EVENTS_TYPE "text/event-stream; charset=utf-8"
#define WEB_HEADERS_MAX 16384
#define WEB_CSP                                                                                    \
	"default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "              \
	"form-action 'self'; frame-ancestors 'none'"

extern const char web_openapi_json[]; /* docs/openapi.json, built in (web_openapi.c) */
extern const char web_page_html[], web_page_js[], web_page_css[]; /* web/, built in */

/* The staff pages: the files of web/, at these paths. */
static const struct web_page {
	const char *path;
	const char *type;
	const char *text;
} web_pages[] = {
    {"/", "text/html; charset=utf-8", web_page_html},
    {"/index.html", "text/html; charset=utf-8", web_page_html},
    {"/app.js", "text/javascript; charset=utf-8", web_page_js},
    {"/app.css", "text/css; charset=utf-8", web_page_css},
};

struct web_conn;
TAILQ_HEAD(web_conn_list, web_conn);

struct web {
	struct evhttp *http;
	struct hub *hub;
	struct web_conn_list conns;
};

/* One HTTPS connection. evhttp owns the connection; this lives as long as its TLS state. */
struct web_conn {
	struct transport_owner owner;    /* first: transport_owner() gives the connection back */
	struct web *web;                 /* NULL once web_free let go of it */
	struct bufferevent *tls;         /* evhttp's connection's; NULL once evhttp closed it */
	struct evhttp_connection *evcon; /* known from the first request */
	struct session *s;               /* its requests' session; NULL before the first */
	struct bufferevent *door;        /* the door's end of the pair to s */
	/* Until its first request makes it a session, it counts in the handshake budgets the wire
	 * door's connections count in (addr_table.h), by its source address. */
	struct hs_slot budget;
	struct sockaddr_storage peer; /* its source address, once known */
	bool refused;                 /* shed or refused: no request of it is served */
	struct event *arrived;        /* counts it in the budgets once evhttp gave it its socket */
	struct evhttp_request *pending; /* the request s is handling */
	uint64_t pending_id;
	uint64_t next_id;
	struct event *deadline;        /* the next request must have arrived whole by then */
	struct event *kick;            /* closes the connection from the loop */
	bool stream_asked;             /* pending is a Watch: its answer starts an event stream */
	struct evhttp_request *stream; /* GET events being answered, one event at a time */
	struct event *keepalive;       /* while streaming: keeps the stream and session alive */
	TAILQ_ENTRY(web_conn) all;
};

/* The headers every answer carries: nothing the hub serves may be framed, sniffed or cached. */
static void web_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Security-Policy", WEB_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

static void web_send_text(struct evhttp_request *req, int code, const char *type, const char *text)
{
	web_headers(req);
	http_reply_text(req, code, type, text);
}

/* Answer req with HTTP code and json (taken over; NULL: out of memory). */
static void web_send_json(struct evhttp_request *req, int code, json_t *json)
{
	char *text = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;

	web_send_text(req, code, WEB_JSON_TYPE, text);
	free(text);
	json_decref(json);
}

/* Answer req with a Status as the wire protocol would refuse it: code, message, field. */
static void web_send_status(struct evhttp_request *req, int http, Refex__StatusCode code,
                            const char *field, const char *message)
{
	Refex__Status st = REFEX__STATUS__INIT;

	st.has_code = 1;
	st.code = code;
	st.message = (char *)message;
	st.field = (char *)field;
	web_send_json(req, http, pbjson_encode(&st.base));
}

/* The HTTP status for a wire status. */
static int web_http_status(Refex__StatusCode code)
{
	switch (code) {
	case REFEX__STATUS_CODE__STATUS_OK:
		return HTTP_OK;
	case REFEX__STATUS_CODE__STATUS_INVALID:
	case REFEX__STATUS_CODE__STATUS_UNSUPPORTED:
		return HTTP_BADREQUEST;
	case REFEX__STATUS_CODE__STATUS_NOT_FOUND:
		return HTTP_NOTFOUND;
	case REFEX__STATUS_CODE__STATUS_FORBIDDEN:
		return 403;
	case REFEX__STATUS_CODE__STATUS_CONFLICT:
		return 409;
	case REFEX__STATUS_CODE__STATUS_TOO_LARGE:
		return HTTP_ENTITYTOOLARGE;
	case REFEX__STATUS_CODE__STATUS_UNAVAILABLE:
		return HTTP_SERVUNAVAIL;
	default:
		return HTTP_INTERNAL;
	}
}

/* The body of a Response, alone, as JSON: what the operation answers. */
static json_t *web_body_json(const Refex__Response *resp)
{
	const ProtobufCFieldDescriptor *f;
	char name[PBJSON_NAME_CAP];
	json_t *all, *body;

	f = protobuf_c_message_descriptor_get_field(&refex__response__descriptor,
	                                            (unsigned)resp->body_case);
	if (f == NULL) {
		return json_object();
	}
	if ((all = pbjson_encode(&resp->base)) == NULL) {
		return NULL;
	}
	pbjson_json_name(f->name, name);
	body = json_incref(json_object_get(all, name));
	json_decref(all);
	return body != NULL ? body : json_object();
}

/* Close the connection from the loop: evhttp sees its end and frees it the usual way. */
static void web_conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *conn = arg;

	(void)fd;
	(void)what;
	if (conn->tls != NULL) {
		shutdown(bufferevent_getfd(conn->tls), SHUT_RDWR);
	}
}

/* The next request did not arrive whole in time (a slow client, headers or body a byte at a
 * time): evhttp's timeouts restart on every byte, this one does not. */
static void web_conn_expired(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *conn = arg;

	log_warnx("msg=\"web connection closed\" agency=%s reason=\"no whole request in time\"",
	          conn->s != NULL ? session_identity(conn->s)->agency : "-");
	web_conn_kick_cb(fd, what, arg);
}

/* Give the next request on conn seconds to arrive whole. */
static void web_conn_deadline(struct web_conn *conn, unsigned seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	evtimer_add(conn->deadline, &tv);
}

/* Drop conn's session and the door to it. */
static void web_conn_end_session(struct web_conn *conn, const char *why)
{
	if (conn->keepalive != NULL) {
		evtimer_del(conn->keepalive);
	}
	if (conn->door != NULL) {
		bufferevent_free(conn->door); /* first: closing s must not call back into conn */
		conn->door = NULL;
	}
	if (conn->s != NULL) {
		session_close(conn->s, why);
		session_unref(conn->s);
		conn->s = NULL;
	}
}

/* Let go of everything conn holds but its memory (its TLS state may outlive the web). */
static void web_conn_detach(struct web_conn *conn)
{
	struct web *web = conn->web;

	web_conn_end_session(conn, "HTTPS connection closed");
	/* A request evhttp let go of (the client left) is ours to free; answering frees it. */
	if (conn->pending != NULL && evhttp_request_get_connection(conn->pending) == NULL) {
		evhttp_send_error(conn->pending, HTTP_SERVUNAVAIL, NULL);
	}
	if (conn->stream != NULL && evhttp_request_get_connection(conn->stream) == NULL) {
		evhttp_send_reply_end(conn->stream);
	}
	conn->pending = NULL;
	conn->stream = NULL;
	if (conn->keepalive != NULL) {
		event_free(conn->keepalive);
	}
	addr_budget_leave(web->hub, &conn->budget);
	event_free(conn->deadline);
	event_free(conn->kick);
	event_free(conn->arrived);
	TAILQ_REMOVE(&web->conns, conn, all);
	conn->web = NULL;
	conn->tls = NULL;
	conn->evcon = NULL;
}

/* The connection's TLS state is being freed: evhttp is done with it. */
static void web_conn_free(struct transport_owner *o)
{
	struct web_conn *conn = (struct web_conn *)o;

	if (conn->web != NULL) {
		web_conn_detach(conn);
	}
	free(conn);
}

/* evhttp is closing the connection (it frees a request still attached to it itself). */
static void web_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct web_conn *conn = arg;

	(void)evcon;
	if (conn->pending != NULL && evhttp_request_get_connection(conn->pending) != NULL) {
		conn->pending = NULL;
	}
	if (conn->stream != NULL && evhttp_request_get_connection(conn->stream) != NULL) {
		conn->stream = NULL;
	}
	conn->tls = NULL;
	conn->evcon = NULL;
	web_conn_end_session(conn, "HTTPS connection closed");
}

/* Write conn's source address as HOST:PORT into buf. */
static void web_conn_peer(const struct web_conn *conn, char *buf, size_t len)
{
	socklen_t sl = conn->peer.ss_family == AF_INET    ? sizeof(struct sockaddr_in)
	               : conn->peer.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                  : 0;

	if (sl == 0) {
		snprintf(buf, len, "?:?");
		return;
	}
	addr_describe((const struct sockaddr *)&conn->peer, sl, buf, len);
}

/* Refuse every request of conn and close it from the loop. */
static void web_conn_refuse(struct web_conn *conn)
{
	conn->refused = true;
	event_active(conn->kick, EV_TIMEOUT, 0);
}

/* Close conn, the oldest connection not yet admitted of a budget that is full (of either door),
 * to make room for a newcomer; log it when log. */
static void web_conn_shed(struct hs_slot *slot, const char *budget, bool log)
{
	struct web_conn *conn =
	    (struct web_conn *)((char *)slot - offsetof(struct web_conn, budget));
	char peer[NI_MAXHOST + NI_MAXSERV + 2];

	if (log) {
		web_conn_peer(conn, peer, sizeof(peer));
		log_warnx("msg=\"handshake shed\" door=web peer=%s budget=%s not_logged=%llu", peer,
		          budget, conn->web->hub->shed_unlogged);
	}
	addr_budget_leave(conn->web->hub, slot);
	web_conn_refuse(conn);
}

/* evhttp has given conn its socket: hold it to the budgets the wire door's connections are held
 * to, by its source address, shedding the oldest of either door as the wire door does. */
static void web_conn_arrived(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *conn = arg;
	struct hub *hub = conn->web->hub;
	socklen_t len = sizeof(conn->peer);
	char peer[NI_MAXHOST + NI_MAXSERV + 2];
	int one = 1;

	(void)fd;
	(void)what;
	if (conn->tls == NULL || conn->refused) {
		return;
	}
	if (getpeername(bufferevent_getfd(conn->tls), (struct sockaddr *)&conn->peer, &len) < 0) {
		web_conn_refuse(conn); /* gone already */
		return;
	}
	/* As the wire door's: an answer's last TLS record must not wait for the client's delayed
	 * ACK of the one before (Nagle), 40 ms per request on a connection kept alive. */
	setsockopt(bufferevent_getfd(conn->tls), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!addr_budget_make_room(hub, (struct sockaddr *)&conn->peer)) {
		web_conn_peer(conn, peer, sizeof(peer));
		log_warnx(
		    "msg=\"web connection refused\" peer=%s reason=\"connection limit reached\"",
		    peer);
		web_conn_refuse(conn);
		return;
	}
	if (addr_budget_enter(hub, &conn->budget, (struct sockaddr *)&conn->peer) < 0) {
		log_error("msg=\"cannot start an HTTPS connection\" reason=\"out of memory\"");
		web_conn_refuse(conn);
		return;
	}
	web_conn_deadline(conn, hub->cfg->limits.handshake_timeout);
}

/* Make conn for bev, a new connection's TLS (held to the budgets once it has arrived). */
static struct web_conn *web_conn_new(struct web *web, struct bufferevent *bev)
{
	struct web_conn *conn = calloc(1, sizeof(*conn));
	struct event_base *base = web->hub->base;

	if (conn == NULL) {
		return NULL;
	}
	conn->owner.on_free = web_conn_free;
	conn->web = web;
	conn->tls = bev;
	conn->next_id = 1;
	conn->budget.web = true;
	conn->budget.shed = web_conn_shed;
	if ((conn->deadline = evtimer_new(base, web_conn_expired, conn)) == NULL ||
	    (conn->kick = event_new(base, -1, 0, web_conn_kick_cb, conn)) == NULL ||
	    (conn->arrived = event_new(base, -1, 0, web_conn_arrived, conn)) == NULL ||
	    transport_set_owner(bev, &conn->owner) < 0) {
		if (conn->deadline != NULL) {
			event_free(conn->deadline);
		}
		if (conn->kick != NULL) {
			event_free(conn->kick);
		}
		if (conn->arrived != NULL) {
			event_free(conn->arrived);
		}
		free(conn);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&web->conns, conn, all);
	return conn;
}

/* evhttp accepted a connection: give it TLS from the context in force, or refuse it. evhttp
 * gives it its socket only after this returns: the budgets, which go by source address, take
 * it from the loop (web_conn_arrived). */
static struct bufferevent *web_accept(struct event_base *base, void *arg)
{
	struct web *web = arg;
	struct hub *hub = web->hub;
	struct bufferevent *bev = transport_accept(base, hub->tls, -1);
	struct web_conn *conn;

	/* NULL would make evhttp serve the connection without TLS. */
	if (bev == NULL) {
		fatalx("msg=\"cannot start TLS for an HTTPS connection\" reason=\"out of memory\"");
	}
	if ((conn = web_conn_new(web, bev)) == NULL) {
		log_error("msg=\"cannot start an HTTPS connection\" reason=\"out of memory\"");
		return bev; /* its requests are refused: it has no conn */
	}
	listener_paced(hub, hub->web_listener);
	if (hub->stopping) {
		log_warnx("msg=\"web connection refused\" reason=\"stopping\"");
		web_conn_refuse(conn);
		return bev;
	}
	event_active(conn->arrived, EV_TIMEOUT, 0);
	return bev;
}

/* Refuse req and close its connection once the answer is out. */
static void web_refuse_conn(struct evhttp_request *req, int http, Refex__StatusCode code,
                            const char *message)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	web_send_status(req, http, code, NULL, message);
}

/* Write msg to conn's session as one frame. Returns 0, -1 when it is over the frame limit, -2
 * when out of memory. */
static int web_door_write(struct web_conn *conn, const Refex__Request *msg)
{
	size_t n = refex__request__get_packed_size(msg);
	uint8_t hdr[FRAME_HEADER_LEN], *packed;
	int rc = 0;

	if (n > conn->web->hub->cfg->limits.max_frame) {
		return -1;
	}
	if ((packed = malloc(n ? n : 1)) == NULL) {
		return -2;
	}
	frame_put_header(hdr, (uint32_t)n);
	refex__request__pack(msg, packed);
	if (bufferevent_write(conn->door, hdr, sizeof(hdr)) < 0 ||
	    bufferevent_write(conn->door, packed, n) < 0) {
		rc = -2;
	}
	free(packed);
	return rc;
}

/* Send msg to conn's session as one frame, req waiting for its answer. */
static void web_door_send(struct web_conn *conn, struct evhttp_request *req, Refex__Request *msg)
{
	int rc;

	conn->pending = req;
	conn->pending_id = msg->id;
	if ((rc = web_door_write(conn, msg)) == 0) {
		return;
	}
	conn->pending = NULL;
	if (rc == -1) {
		web_send_status(req, HTTP_ENTITYTOOLARGE, REFEX__STATUS_CODE__STATUS_TOO_LARGE,
		                NULL, "the request is larger than the hub's frame limit");
	} else {
		web_send_status(req, HTTP_SERVUNAVAIL, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		                "out of memory");
	}
}

static void web_door_read(struct bufferevent *bev, void *arg);

/* The stream's output is all sent: read its session's events again. */
static void web_stream_drained(struct evhttp_connection *evcon, void *arg)
{
	struct web_conn *conn = arg;

	(void)evcon;
	if (conn->door != NULL && !(bufferevent_get_enabled(conn->door) & EV_READ)) {
		bufferevent_enable(conn->door, EV_READ);
		web_door_read(conn->door, conn); /* frames left waiting */
	}
}

/* Send buf (emptied) on conn's stream; past half the output budget, stop reading the session
 * until the reader has taken it all, so that its events wait in the store as a slow wire
 * watcher's do. */
static void web_stream_send(struct web_conn *conn, struct evbuffer *buf)
{
	evhttp_send_reply_chunk_with_cb(conn->stream, buf, web_stream_drained, conn);
	if (conn->tls != NULL && conn->door != NULL &&
	    evbuffer_get_length(bufferevent_get_output(conn->tls)) >
	        conn->web->hub->cfg->limits.output_buffer / 2) {
		bufferevent_disable(conn->door, EV_READ);
	}
}

/* Send msg on conn's stream as one event: head (its id or event line), then msg as JSON on one
 * data line. Out of memory ends the stream; the reader resumes from the last id it got. */
static void web_stream_put(struct web_conn *conn, const char *head, const ProtobufCMessage *msg)
{
	json_t *json = pbjson_encode(msg);
	char *text = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
	struct evbuffer *buf = evbuffer_new();

	if (text == NULL || buf == NULL ||
	    evbuffer_add_printf(buf, "%sdata: %s\n\n", head, text) < 0) {
		log_error("msg=\"web event stream closed\" agency=%s reason=\"out of memory\"",
		          session_identity(conn->s)->agency);
		event_active(conn->kick, EV_TIMEOUT, 0);
	} else {
		web_stream_send(conn, buf);
	}
	if (buf != NULL) {
		evbuffer_free(buf);
	}
	free(text);
	json_decref(json);
}

/* Send ev on conn's stream, its sequence number as the event's id. */
static void web_stream_event(struct web_conn *conn, const Refex__Event *ev)
{
	char head[40];

	snprintf(head, sizeof(head), "id: %" PRIu64 "\n", ev->seq);
	web_stream_put(conn, head, &ev->base);
}

/* Every half idle time on a stream: a comment to the reader, so that a reader gone is noticed,
 * and a cheap request to the session, which would otherwise end as idle. */
static void web_stream_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *conn = arg;
	Refex__Request msg = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	struct evbuffer *buf;

	(void)fd;
	(void)what;
	if (conn->stream == NULL || conn->door == NULL) {
		return;
	}
	if ((buf = evbuffer_new()) != NULL && evbuffer_add(buf, ":\n\n", 3) == 0) {
		web_stream_send(conn, buf);
	}
	if (buf != NULL) {
		evbuffer_free(buf);
	}
	msg.has_id = 1;
	msg.id = conn->next_id++;
	msg.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	msg.list_forms = &lf;
	web_door_write(conn, &msg); /* its answer is dropped; out of memory: the session idles */
}

/* Answer req, a GET events whose Watch w began, with an event stream: a "watch" event saying
 * where the agency's events stand, then each event as it is pumped. */
static void web_stream_start(struct web_conn *conn, struct evhttp_request *req,
                             const Refex__WatchReply *w)
{
	const struct limits *l = &conn->web->hub->cfg->limits;
	struct timeval half = {.tv_sec = l->idle_timeout > 1 ? l->idle_timeout / 2 : 1};
	struct timeval idle = {.tv_sec = l->idle_timeout};

	web_headers(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", WEB_EVENTS_TYPE);
	evhttp_send_reply_start(req, HTTP_OK, "OK");
	conn->stream = req;
	evtimer_del(conn->deadline);
	/* A quiet stream is not idle: the reader only reads. A reader that stops reading is
	 * still cut off after the idle time. */
	bufferevent_set_timeouts(conn->tls, NULL, &idle);
	if (conn->keepalive == NULL) {
		conn->keepalive =
		    event_new(conn->web->hub->base, -1, EV_PERSIST, web_stream_keepalive, conn);
	}
	if (conn->keepalive == NULL || evtimer_add(conn->keepalive, &half) < 0) {
		log_error("msg=\"web event stream closed\" agency=%s reason=\"out of memory\"",
		          session_identity(conn->s)->agency);
		event_active(conn->kick, EV_TIMEOUT, 0);
		return;
	}
	web_stream_put(conn, "event: watch\n", &w->base);
}

/* Answer conn's pending request with resp. */
static void web_answer(struct web_conn *conn, const Refex__Response *resp)
{
	struct evhttp_request *req = conn->pending;
	Refex__StatusCode code =
	    resp->status != NULL ? resp->status->code : REFEX__STATUS_CODE__STATUS_OK;

	conn->pending = NULL;
	if (conn->stream_asked && code != REFEX__STATUS_CODE__STATUS_OK) {
		const char *field = resp->status->field != NULL ? resp->status->field : "";

		/* Named as the stream's own parameter: "since", not "watch.since". */
		field = handlers_field_in_body(field);
		conn->stream_asked = false;
		web_send_status(req, web_http_status(code), code, field[0] ? field : NULL,
		                resp->status->message);
		return;
	}
	if (conn->stream_asked && resp->watch != NULL) {
		conn->stream_asked = false;
		web_stream_start(conn, req, resp->watch);
		return;
	}
	conn->stream_asked = false;
	if (code != REFEX__STATUS_CODE__STATUS_OK) {
		web_send_json(req, web_http_status(code), pbjson_encode(&resp->status->base));
	} else if (resp->body_case == REFEX__RESPONSE__BODY_REFERRAL) {
		json_t *body = web_body_json(resp);

		web_forms_answers(conn->web->hub, resp->referral, body);
		web_send_json(req, HTTP_OK, body);
	} else {
		web_send_json(req, HTTP_OK, web_body_json(resp));
	}
}

/* Take one whole frame off in, if there is one, and answer the request it answers. */
static bool web_door_frame(struct web_conn *conn, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in), len;
	uint8_t *buf;
	Refex__ServerMessage *m;

	if (avail < FRAME_HEADER_LEN) {
		return false;
	}
	buf = evbuffer_pullup(in, FRAME_HEADER_LEN);
	if (frame_parse(buf, avail, UINT32_MAX, &len) != FRAME_OK) {
		return false;
	}
	buf = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + len));
	m = refex__server_message__unpack(NULL, len, buf + FRAME_HEADER_LEN);
	evbuffer_drain(in, FRAME_HEADER_LEN + len);
	/* Responses nobody waits for answer a stream's keepalive. */
	if (m != NULL && m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE &&
	    conn->pending != NULL && m->response->id == conn->pending_id) {
		web_answer(conn, m->response);
	} else if (m != NULL && m->body_case == REFEX__SERVER_MESSAGE__BODY_EVENT &&
	           conn->stream != NULL) {
		web_stream_event(conn, m->event);
	}
	if (m != NULL) {
		refex__server_message__free_unpacked(m, NULL);
	}
	return true;
}

static void web_door_read(struct bufferevent *bev, void *arg)
{
	/* A stream whose reader is slow stops reading its session (web_stream_send). */
	while ((bufferevent_get_enabled(bev) & EV_READ) &&
	       web_door_frame(arg, bufferevent_get_input(bev))) {
	}
}

/* The session ended from the hub's side (a reload found the certificate revoked or the agency
 * gone, the hub is stopping): the HTTPS connection ends with it. */
static void web_door_event(struct bufferevent *bev, short what, void *arg)
{
	struct web_conn *conn = arg;

	(void)what;
	web_door_read(bev, conn); /* the last answers */
	web_conn_end_session(conn, "session ended");
	if (conn->pending != NULL) {
		struct evhttp_request *req = conn->pending;

		conn->pending = NULL;
		web_refuse_conn(req, HTTP_SERVUNAVAIL, REFEX__STATUS_CODE__STATUS_UNAVAILABLE,
		                "the hub closed this connection; connect again");
		return;
	}
	event_active(conn->kick, EV_TIMEOUT, 0);
}

/* Log a connection refused at its first request, by certificate serial only. */
static void web_log_refused(const struct identity *who, const char *why)
{
	log_warnx("msg=\"web connection refused\" reason=\"%s\"%s%s serial=%s", why,
	          who->agency[0] ? " agency=" : "", who->agency,
	          who->serial[0] ? who->serial : "-");
}

/* Give conn, at its first request, a session of the certificate's holder, judged as the wire
 * door judges one: verified, trusted by the context in force now, a partner's. Answers req
 * and returns -1 when refused. */
static int web_conn_admit(struct web_conn *conn, struct evhttp_request *req)
{
	struct hub *hub = conn->web->hub;
	struct identity who = {0};
	struct bufferevent *pair[2];
	char err[256];

	if (transport_peer_identity(conn->tls, &who, err, sizeof(err)) < 0 ||
	    transport_trusted_now(conn->tls, hub->tls, err, sizeof(err)) != NULL) {
		web_log_refused(&who, err);
		web_refuse_conn(req, 403, REFEX__STATUS_CODE__STATUS_FORBIDDEN, err);
		return -1;
	}
	if (config_agency_index(hub->cfg, who.agency) < 0) {
		web_log_refused(&who, "agency not in the partnership");
		web_refuse_conn(req, 403, REFEX__STATUS_CODE__STATUS_FORBIDDEN,
		                "this agency is not a partner in this network");
		return -1;
	}
	if (bufferevent_pair_new(hub->base, BEV_OPT_DEFER_CALLBACKS, pair) < 0) {
		web_refuse_conn(req, HTTP_SERVUNAVAIL, REFEX__STATUS_CODE__STATUS_UNAVAILABLE,
		                "out of memory");
		return -1;
	}
	if ((conn->s = session_new_open(hub, pair[0], &who)) == NULL) {
		bufferevent_free(pair[1]);
		web_refuse_conn(req, HTTP_SERVUNAVAIL, REFEX__STATUS_CODE__STATUS_UNAVAILABLE,
		                "out of memory");
		return -1;
	}
	session_set_vouch(conn->s, conn->tls);
	session_set_greeted(conn->s); /* the handshake said who it is; no Hello needed */
	conn->door = pair[1];
	bufferevent_setcb(conn->door, web_door_read, NULL, web_door_event, conn);
	bufferevent_enable(conn->door, EV_READ);
	addr_budget_leave(hub, &conn->budget);
	return 0;
}

/* Say whether req may change something for the certificate's holder: not sent by another
 * site's page. A browser sends the client certificate with any request a page makes, so
 * fetch metadata and Origin, when the browser sends them, must name this site. */
static bool web_same_origin(struct evhttp_request *req)
{
	const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *site = evhttp_find_header(h, "Sec-Fetch-Site");
	const char *origin = evhttp_find_header(h, "Origin");
	const char *host = evhttp_find_header(h, "Host");
	char self[300];

	if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
		return false;
	}
	if (origin == NULL) {
		return true;
	}
	snprintf(self, sizeof(self), "https://%s", host != NULL ? host : "");
	return host != NULL && strcasecmp(origin, self) == 0;
}

/* Say whether req's body is declared JSON: a page of another site cannot send that without
 * asking first (CORS preflight), and the hub never says yes. */
static bool web_is_json(struct evhttp_request *req)
{
	const char *type =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	size_t n = strlen(WEB_JSON);

	return type != NULL && strncasecmp(type, WEB_JSON, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/* Read req's body as a JSON object ({} when empty); answer and return NULL if it is not one. */
static json_t *web_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *body;
	char message[300];

	if (len == 0) {
		return json_object();
	}
	body =
	    json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL || !json_is_object(body)) {
		snprintf(message, sizeof(message), "the body is not a JSON object%s%s",
		         body == NULL ? ": " : "", body == NULL ? jerr.text : "");
		web_send_status(req, HTTP_BADREQUEST, REFEX__STATUS_CODE__STATUS_INVALID, NULL,
		                message);
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Decode req's body as the body of a Request for op (pbjson: the wire client's decoding);
 * answer and return NULL when it does not decode. */
static Refex__Request *web_request(const struct hub *hub, struct evhttp_request *req,
                                   const char *op)
{
	json_t *body = web_body(req), *json = json_object();
	struct pbjson_error perr = {0};
	ProtobufCMessage *msg = NULL;
	const char *field;
	char message[600], name[PBJSON_NAME_CAP], fname[300];

	/* By its JSON name, so that errors name fields as the wire door does. */
	pbjson_json_name(op, name);
	if (body != NULL && (strcmp(op, "submit") == 0 || strcmp(op, "forward") == 0) &&
	    web_forms_pack(hub, body, strcmp(op, "forward") == 0, fname, sizeof(fname), message,
	                   sizeof(message)) < 0) {
		web_send_status(req, HTTP_BADREQUEST, REFEX__STATUS_CODE__STATUS_INVALID, fname,
		                message);
	} else if (body != NULL && json != NULL && json_object_set_new(json, name, body) == 0) {
		body = NULL;
		if ((msg = pbjson_decode(&refex__request__descriptor, json, &perr)) == NULL) {
			field = handlers_field_in_body(perr.path);
			snprintf(message, sizeof(message), "%s: %s", field, perr.message);
			web_send_status(req, HTTP_BADREQUEST, REFEX__STATUS_CODE__STATUS_INVALID,
			                field[0] ? field : NULL, message);
		}
	}
	json_decref(body);
	json_decref(json);
	return (Refex__Request *)msg;
}

/* Say whether op names a Request body the door serves: every one but watch, a stream. */
static bool web_op_is_served(const char *op)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(&refex__request__descriptor, op);

	return f != NULL && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && strcmp(op, "watch") != 0;
}

/* POST /api/v1/OP: run the Request body OP through conn's session. */
static void web_operation(struct web_conn *conn, struct evhttp_request *req, const char *op)
{
	const char *key =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
	Refex__Request *msg;

	if (!web_op_is_served(op)) {
		web_send_status(req, HTTP_NOTFOUND, REFEX__STATUS_CODE__STATUS_NOT_FOUND, NULL,
		                "no such operation; see /api/v1/openapi.json");
	} else if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
		web_send_status(req, HTTP_BADMETHOD, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, NULL,
		                "operations are called with POST");
	} else if (!web_same_origin(req)) {
		web_send_status(req, 403, REFEX__STATUS_CODE__STATUS_FORBIDDEN, NULL,
		                "cross-site requests are refused");
	} else if (!web_is_json(req)) {
		web_send_status(req, 415, REFEX__STATUS_CODE__STATUS_INVALID, NULL,
		                "send the body as Content-Type: application/json");
	} else if ((conn->s != NULL || web_conn_admit(conn, req) == 0) &&
	           (msg = web_request(conn->web->hub, req, op)) != NULL) {
		msg->has_id = 1;
		msg->id = conn->next_id++;
		if (key != NULL) {
			msg->idempotency_key = strdup(key);
		}
		web_door_send(conn, req, msg);
		refex__request__free_unpacked(msg, NULL);
	}
}

/* Read a sequence number (decimal digits only) from text into *seq. Returns 0 or -1. */
static int web_parse_seq(const char *text, uint64_t *seq)
{
	char *end;

	errno = 0;
	if (text[0] < '0' || text[0] > '9') {
		return -1;
	}
	*seq = strtoull(text, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

/* Find where req's stream resumes: after Last-Event-ID (a browser reconnecting sends it), else
 * after the since query parameter, else from now (*has false). Returns 0, or -1 when the one
 * given is not a sequence number. */
static int web_events_since(struct evhttp_request *req, uint64_t *since, bool *has)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	const char *text =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	struct evkeyvalq q;
	int rc = 0;

	TAILQ_INIT(&q);
	if (text == NULL && query != NULL && evhttp_parse_query_str(query, &q) == 0) {
		text = evhttp_find_header(&q, "since");
	}
	*has = text != NULL;
	if (text != NULL) {
		rc = web_parse_seq(text, since);
	}
	evhttp_clear_headers(&q);
	return rc;
}

/* Say whether req is a GET that this site's pages (or a program) sent; answer 405 (saying
 * how) or 403 and return false when it is not. */
static bool web_get_from_this_site(struct evhttp_request *req, const char *how)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		web_send_status(req, HTTP_BADMETHOD, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, NULL,
		                how);
		return false;
	}
	if (!web_same_origin(req)) {
		web_send_status(req, 403, REFEX__STATUS_CODE__STATUS_FORBIDDEN, NULL,
		                "cross-site requests are refused");
		return false;
	}
	return true;
}

/* GET /api/v1/events: the agency's events as Server-Sent Events, through a Watch on conn's
 * session, resuming as refex watch --since does. */
static void web_events(struct web_conn *conn, struct evhttp_request *req)
{
	Refex__Request msg = REFEX__REQUEST__INIT;
	Refex__Watch w = REFEX__WATCH__INIT;
	bool has;

	if (!web_get_from_this_site(req, "the event stream is read with GET")) {
		return;
	}
	if (web_events_since(req, &w.since, &has) < 0) {
		web_send_status(req, HTTP_BADREQUEST, REFEX__STATUS_CODE__STATUS_INVALID, "since",
		                "since: Last-Event-ID and since are event sequence numbers");
	} else if (conn->s != NULL || web_conn_admit(conn, req) == 0) {
		w.has_since = has;
		msg.has_id = 1;
		msg.id = conn->next_id++;
		msg.body_case = REFEX__REQUEST__BODY_WATCH;
		msg.watch = &w;
		web_door_send(conn, req, &msg);
		conn->stream_asked = conn->pending == req;
	}
}

/* GET /api/v1/forms/NAME[?version=N]: a kept version of a form (the newest when none is asked
 * for) described as JSON for a page to render (web_forms.h). */
static void web_form(struct web_conn *conn, struct evhttp_request *req, const char *name)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	const char *text = NULL;
	struct evkeyvalq q;
	uint64_t version = 0;
	json_t *j;

	if (!web_get_from_this_site(req, "a form is read with GET")) {
		return;
	}
	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
		text = evhttp_find_header(&q, "version");
	}
	if (text != NULL &&
	    (web_parse_seq(text, &version) < 0 || version == 0 || version > UINT32_MAX)) {
		web_send_status(req, HTTP_BADREQUEST, REFEX__STATUS_CODE__STATUS_INVALID, "version",
		                "version: a form version is a number from 1");
	} else if (conn->s != NULL || web_conn_admit(conn, req) == 0) {
		if ((j = web_forms_describe(conn->web->hub, name, (uint32_t)version)) == NULL) {
			web_send_status(req, HTTP_NOTFOUND, REFEX__STATUS_CODE__STATUS_NOT_FOUND,
			                "form",
			                "this hub keeps no such form (or no such version of it)");
		} else {
			web_send_json(req, HTTP_OK, j);
		}
	}
	evhttp_clear_headers(&q);
}

/* Answer a GET or HEAD req with a built-in file text of type. */
static void web_static(struct evhttp_request *req, const char *type, const char *text)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);

	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		web_send_status(req, HTTP_BADMETHOD, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, NULL,
		                "only GET and HEAD");
		return;
	}
	web_send_text(req, HTTP_OK, type, text);
}

/* GET a staff page at path (they hold no data: the script asks the API for it). */
static void web_page(struct evhttp_request *req, const char *path)
{
	for (size_t i = 0; i < sizeof(web_pages) / sizeof(web_pages[0]); i++) {
		if (strcmp(path, web_pages[i].path) == 0) {
			web_static(req, web_pages[i].type, web_pages[i].text);
			return;
		}
	}
	web_send_status(req, HTTP_NOTFOUND, REFEX__STATUS_CODE__STATUS_NOT_FOUND, NULL,
	                "not found; the pages are at /, the API under " WEB_API);
}

/* Every request evhttp read whole. */
static void web_serve(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct web_conn *conn =
	    (struct web_conn *)transport_owner(evhttp_connection_get_bufferevent(evcon));
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	(void)arg;
	if (conn == NULL || conn->web == NULL || conn->refused || conn->pending != NULL ||
	    conn->stream != NULL) {
		web_refuse_conn(req, HTTP_SERVUNAVAIL, REFEX__STATUS_CODE__STATUS_UNAVAILABLE,
		                "the hub cannot serve this connection; connect again");
		return;
	}
	if (conn->evcon == NULL) {
		conn->evcon = evcon;
		evhttp_connection_set_closecb(evcon, web_conn_closed, conn);
	}
	/* The next request, on a connection kept alive, has the idle time to arrive whole. */
	web_conn_deadline(conn, conn->web->hub->cfg->limits.idle_timeout);
	if (path == NULL || strncmp(path, WEB_API, strlen(WEB_API)) != 0) {
		web_page(req, path != NULL ? path : "");
	} else if (strcmp(path + strlen(WEB_API), "openapi.json") == 0) {
		web_static(req, WEB_JSON_TYPE, web_openapi_json);
	} else if (strcmp(path + strlen(WEB_API), WEB_EVENTS) == 0) {
		web_events(conn, req);
	} else if (strncmp(path + strlen(WEB_API), WEB_FORMS, strlen(WEB_FORMS)) == 0) {
		web_form(conn, req, path + strlen(WEB_API) + strlen(WEB_FORMS));
	} else {
		web_operation(conn, req, path + strlen(WEB_API));
	}
}

/* Apply the limits in force to the door (new connections and requests). */
void web_apply_limits(struct web *web)
{
	const struct limits *l;

	if (web == NULL) {
		return;
	}
	l = &web->hub->cfg->limits;
	evhttp_set_timeout(web->http, (int)l->idle_timeout);
	evhttp_set_max_body_size(web->http, l->max_frame);
}

/* Serve HTTPS at the [web] listen address. */
struct web *web_start(struct hub *hub, char *err, size_t errlen)
{
	struct web *web = calloc(1, sizeof(*web));
	struct evconnlistener *lev = NULL;

	if (web == NULL || (web->http = evhttp_new(hub->base)) == NULL) {
		snprintf(err, errlen, "web: out of memory");
		goto fail;
	}
	web->hub = hub;
	TAILQ_INIT(&web->conns);
	/* Every method reaches web_serve, which answers 405 rather than evhttp's 501. */
	evhttp_set_allowed_methods(web->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                          EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(web->http, WEB_HEADERS_MAX);
	web_apply_limits(web);
	evhttp_set_bevcb(web->http, web_accept, web);
	evhttp_set_gencb(web->http, web_serve, web);
	lev = listener_bind(hub, hub->cfg->web_host, hub->cfg->web_port, "web-listening", err,
	                    errlen);
	if (lev == NULL) {
		goto fail;
	}
	if (evhttp_bind_listener(web->http, lev) == NULL) {
		evconnlistener_free(lev);
		snprintf(err, errlen, "web: out of memory");
		goto fail;
	}
	hub->web_listener = lev;
	hub->web = web;
	return web;
fail:
	web_free(web);
	return NULL;
}

/* Stop serving and close every HTTPS connection. */
void web_free(struct web *web)
{
	if (web == NULL) {
		return;
	}
	while (!TAILQ_EMPTY(&web->conns)) {
		web_conn_detach(TAILQ_FIRST(&web->conns));
	}
	if (web->http != NULL) {
		evhttp_free(web->http);
	}
	if (web->hub != NULL) {
		web->hub->web_listener = NULL;
		web->hub->web = NULL;
	}
	free(web);
}
