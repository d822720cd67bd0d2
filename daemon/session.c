/* One partner connection: handshake, identity, framing, dispatch, replies, back-pressure. */
#include "session.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr_table.h"
#include "frame.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "pballoc.h"
#include "pbcheck.h"
#include "transport.h"
#include "watch.h"

enum session_state {
	SESSION_HANDSHAKE, /* TLS handshake under way */
	SESSION_OPEN,      /* reading requests */
	SESSION_CLOSING,   /* flushing the last replies, then closing */
	SESSION_DEAD,      /* transport gone; freed when the last reference drops */
};

struct session {
	uint64_t id;
	struct hub *hub;
	struct bufferevent *bev;
	struct bufferevent *vouch; /* the TLS connection rechecked on reload; NULL: bev */
	struct identity who;
	int agency; /* index in hub->cfg->agencies, -1 before the handshake */
	enum session_state state;
	bool greeted;
	bool paused;    /* reading stopped: the peer is not reading its replies */
	bool throttled; /* reading stopped: SESSION_INFLIGHT_MAX requests await their commit */
	unsigned inflight;
	unsigned refs;
	uint64_t watch_next; /* a watcher: the next event to send; 0: not watching */
	bool watch_reading;  /* a read of its events is in flight (watch.c) */
	bool watch_again;    /* events were asked for meanwhile: read again after it */
	TAILQ_ENTRY(session) all;
	TAILQ_ENTRY(session) peers;
	struct hs_slot budget; /* counted in the handshake budgets while handshaking */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer; /* as accepted: after a reset the socket no longer knows it (AF_UNSPEC: none) */
	struct event *first_bytes;     /* waits for the peer to start TLS before TLS costs memory */
	struct event *handshake_timer; /* the whole handshake's deadline, not an idle timeout */
	struct event *frame_timer;     /* a partial frame's deadline; created on first need */
};

static void session_process(struct session *s);
static void session_write_ready(struct session *s, struct bufferevent *bev, size_t queued);

static const char *const state_names[] = {"handshake", "open", "closing", "dead"};

/* Write the address of the peer of s, as it was accepted, as HOST:PORT into buf. */
static void session_peer(const struct session *s, char *buf, size_t len)
{
	socklen_t sl = s->peer.sa.sa_family == AF_INET    ? sizeof(s->peer.in)
	               : s->peer.sa.sa_family == AF_INET6 ? sizeof(s->peer.in6)
	                                                  : 0;

	if (sl == 0) {
		snprintf(buf, len, "?:?");
		return;
	}
	addr_describe(&s->peer.sa, sl, buf, len);
}

/* Keep sa, the address s was accepted from, to name its peer in logs. */
static void session_set_peer(struct session *s, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		memcpy(&s->peer.in, sa, sizeof(s->peer.in));
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&s->peer.in6, sa, sizeof(s->peer.in6));
	}
}

/* Close s, the oldest handshake of a budget that is full, to make room for a new connection;
 * log it when log. */
static void session_shed(struct hs_slot *slot, const char *budget, bool log)
{
	struct session *s = (struct session *)((char *)slot - offsetof(struct session, budget));
	char peer[NI_MAXHOST + NI_MAXSERV + 2];

	if (log) {
		session_peer(s, peer, sizeof(peer));
		log_warnx("conn=%llu msg=\"handshake shed\" peer=%s budget=%s not_logged=%llu",
		          (unsigned long long)s->id, peer, budget, s->hub->shed_unlogged);
	}
	session_close(s, "handshake shed");
}

static void session_enter(struct session *s, enum session_state next)
{
	log_debug("conn=%llu msg=state from=%s to=%s", (unsigned long long)s->id,
	          state_names[s->state], state_names[next]);
	if (s->state == SESSION_HANDSHAKE && next != SESSION_HANDSHAKE) {
		addr_budget_leave(s->hub, &s->budget);
	}
	s->state = next;
}

/* Log a refused handshake: why, the agency once the certificate named one, the certificate
 * (when one was read) and the peer's address. */
static void session_log_refused(const struct session *s, const char *reason)
{
	char peer[NI_MAXHOST + NI_MAXSERV + 2];

	session_peer(s, peer, sizeof(peer));
	log_warnx("conn=%llu msg=\"handshake refused\" reason=\"%s\"%s%s serial=%s fingerprint=%s "
	          "peer=%s",
	          (unsigned long long)s->id, reason, s->who.agency[0] ? " agency=" : "",
	          s->who.agency, s->who.serial[0] ? s->who.serial : "-",
	          s->who.fingerprint[0] ? s->who.fingerprint : "-", peer);
}

static size_t session_output_limit(const struct session *s)
{
	return s->hub->cfg->limits.output_buffer;
}

/* Back-pressure: a peer that does not read its replies may not send more. */
static void session_check_output(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (!s->paused && evbuffer_get_length(out) > session_output_limit(s)) {
		s->paused = true;
		bufferevent_disable(s->bev, EV_READ);
		log_debug("conn=%llu msg=\"reading paused\" queued=%zu", (unsigned long long)s->id,
		          evbuffer_get_length(out));
	}
}

static void session_send_message(struct session *s, const ProtobufCMessage *msg)
{
	struct evbuffer *out;
	struct evbuffer_iovec v;
	size_t n;

	if (s->state != SESSION_OPEN && s->state != SESSION_CLOSING) {
		return;
	}
	out = bufferevent_get_output(s->bev);
	n = protobuf_c_message_get_packed_size(msg);
	/* Header and message in one commit: each addition to the output is written (and
	 * encrypted as a TLS record) at once, so two additions would cost two records. */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_LEN + n), &v, 1) < 1) {
		session_close(s, "out of memory");
		return;
	}
	frame_put_header(v.iov_base, (uint32_t)n);
	v.iov_len = FRAME_HEADER_LEN +
	            protobuf_c_message_pack(msg, (uint8_t *)v.iov_base + FRAME_HEADER_LEN);
	evbuffer_commit_space(out, &v, 1);
	session_check_output(s);
}

/* Count a request waiting for an asynchronous write. */
void session_request_begin(struct session *s)
{
	s->inflight++;
	if (!s->throttled && s->inflight >= SESSION_INFLIGHT_MAX && s->state == SESSION_OPEN) {
		s->throttled = true;
		bufferevent_disable(s->bev, EV_READ);
	}
}

/* Count a request answered (or dropped); resume reading below half the limit. */
void session_request_end(struct session *s)
{
	s->inflight--;
	if (s->state == SESSION_CLOSING && s->inflight == 0 &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		session_close(s, "closed after reply");
		return;
	}
	if (s->throttled && s->inflight <= SESSION_INFLIGHT_MAX / 2 && s->state == SESSION_OPEN) {
		s->throttled = false;
		if (!s->paused && !s->hub->stopping) {
			bufferevent_enable(s->bev, EV_READ);
			session_process(s); /* requests may already be buffered */
		}
	}
}

/* Write v as a protobuf varint at out; return its length (at most 10). */
static size_t put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v > 0);
	return n;
}

/* Queue a response frame of head followed by the packed body tail. */
void session_send_response_tail(struct session *s, const Refex__Response *head, const uint8_t *tail,
                                size_t tail_len)
{
	/* ServerMessage field 1 (response), length-delimited: protobuf-c cannot pack a message
	 * around bytes packed earlier, so the tag and length are written here. */
	const uint8_t tag = (REFEX__SERVER_MESSAGE__BODY_RESPONSE << 3) | 2;
	size_t head_len = refex__response__get_packed_size(head), resp_len = head_len + tail_len;
	uint8_t prefix[1 + 10];
	size_t prefix_len, n;
	struct evbuffer *out;
	struct evbuffer_iovec v;
	uint8_t *p;

	if (s->state != SESSION_OPEN && s->state != SESSION_CLOSING) {
		return;
	}
	prefix[0] = tag;
	prefix_len = 1 + put_varint(prefix + 1, resp_len);
	n = prefix_len + resp_len;
	out = bufferevent_get_output(s->bev);
	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_LEN + n), &v, 1) < 1) {
		session_close(s, "out of memory");
		return;
	}
	p = v.iov_base;
	frame_put_header(p, (uint32_t)n);
	memcpy(p + FRAME_HEADER_LEN, prefix, prefix_len);
	refex__response__pack(head, p + FRAME_HEADER_LEN + prefix_len);
	memcpy(p + FRAME_HEADER_LEN + prefix_len + head_len, tail, tail_len);
	v.iov_len = FRAME_HEADER_LEN + n;
	evbuffer_commit_space(out, &v, 1);
	session_check_output(s);
}

/* Queue a response frame. */
void session_send_response(struct session *s, const Refex__Response *resp)
{
	Refex__ServerMessage m = REFEX__SERVER_MESSAGE__INIT;

	m.body_case = REFEX__SERVER_MESSAGE__BODY_RESPONSE;
	m.response = (Refex__Response *)resp;
	session_send_message(s, &m.base);
}

/* Return the next greeted session of the same agency. */
struct session *session_next_peer(const struct session *s)
{
	return TAILQ_NEXT(s, peers);
}

/* Queue an event frame. */
void session_send_event(struct session *s, const Refex__Event *ev)
{
	Refex__ServerMessage m = REFEX__SERVER_MESSAGE__INIT;

	m.body_case = REFEX__SERVER_MESSAGE__BODY_EVENT;
	m.event = (Refex__Event *)ev;
	session_send_message(s, &m.base);
}

/* Say whether s has as much output queued as it should. */
bool session_output_busy(const struct session *s)
{
	return s->bev == NULL ||
	       evbuffer_get_length(bufferevent_get_output(s->bev)) > session_output_limit(s) / 2;
}

/* Make s a watcher whose next event is seq next. */
void session_watch_from(struct session *s, uint64_t next)
{
	if (s->watch_next == 0 && s->greeted) {
		/* Watchers lead their agency's list, so waking them never walks idle sessions. */
		TAILQ_REMOVE(&s->hub->by_agency[s->agency], s, peers);
		TAILQ_INSERT_HEAD(&s->hub->by_agency[s->agency], s, peers);
	}
	s->watch_next = next;
}

/* Claim the read of s's events: false (and a note to read again) if one is in flight. */
bool session_watch_read_begin(struct session *s)
{
	if (s->watch_reading) {
		s->watch_again = true;
		return false;
	}
	s->watch_reading = true;
	s->watch_again = false;
	return true;
}

/* End the read of s's events; say whether events were asked for meanwhile. */
bool session_watch_read_end(struct session *s)
{
	s->watch_reading = false;
	return s->watch_again;
}

/* Say whether s watches its agency's events (open or not). */
bool session_is_watcher(const struct session *s)
{
	return s->watch_next > 0;
}

/* Say whether s is an open watcher, with its next sequence number. */
bool session_watch_next(const struct session *s, uint64_t *next)
{
	*next = s->watch_next;
	return s->watch_next > 0 && s->state == SESSION_OPEN && s->greeted;
}

static void session_refuse(struct session *s, uint64_t id, Refex__StatusCode code,
                           const char *message)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__Status st = REFEX__STATUS__INIT;

	r.has_id = id != 0;
	r.id = id;
	st.has_code = 1;
	st.code = code;
	st.message = (char *)message;
	r.status = &st;
	session_send_response(s, &r);
}

static void session_close_after_flush(struct session *s, const char *why)
{
	if (s->state != SESSION_OPEN) {
		return;
	}
	log_info("conn=%llu msg=closing reason=\"%s\"", (unsigned long long)s->id, why);
	session_enter(s, SESSION_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	/* Writes already queued still commit: their replies go out before the close. */
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 && s->inflight == 0) {
		session_close(s, why);
	}
}

static void session_bad_frame(struct session *s, uint64_t id, Refex__StatusCode code,
                              const char *message)
{
	log_warnx("conn=%llu agency=%s msg=\"bad frame\" reason=\"%s\"", (unsigned long long)s->id,
	          s->who.agency, message);
	session_refuse(s, id, code, message);
	session_close_after_flush(s, "bad frame");
}

static uint64_t session_peek_id(const uint8_t *data, size_t len)
{
	struct pballoc budget;
	Refex__RequestHeader *h;
	uint64_t id;

	/* Every other field is unknown to RequestHeader, and protobuf-c keeps a copy of each. */
	pballoc_init(&budget, len);
	h = refex__request_header__unpack(&budget.allocator, len, data);
	id = h && h->has_id ? h->id : 0;
	refex__request_header__free_unpacked(h, NULL);
	return id;
}

static void session_undecodable(struct session *s, const uint8_t *data, size_t len)
{
	struct pbcheck_result res;
	const char *field;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__Status st = REFEX__STATUS__INIT;
	char message[600];

	if (pbcheck_explain(&refex__request__descriptor, data, len, &res) !=
	    PBCHECK_MISSING_REQUIRED) {
		snprintf(message, sizeof(message), "malformed request: %s", res.message);
		session_bad_frame(s, session_peek_id(data, len), REFEX__STATUS_CODE__STATUS_INVALID,
		                  message);
		return;
	}
	/* Well-formed protobuf lacking a required field: an invalid request, not a broken peer. */
	field = handlers_field_in_body(res.path);
	snprintf(message, sizeof(message), "%s: %s", field, res.message);
	r.has_id = 1;
	r.id = session_peek_id(data, len);
	st.has_code = 1;
	st.code = REFEX__STATUS_CODE__STATUS_INVALID;
	st.message = message;
	st.field = (char *)field;
	r.status = &st;
	session_send_response(s, &r);
}

/* Refuse a request with a string that is not UTF-8 or holds a NUL (protobuf-c checks neither
 * for proto2): it would be stored, cut short at the NUL, and break the other party's JSON. */
static bool session_bad_text(struct session *s, const Refex__Request *req, const uint8_t *data,
                             size_t len)
{
	struct pbcheck_result res;
	const char *field;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__Status st = REFEX__STATUS__INIT;
	char message[600];

	if (pbcheck_text(&refex__request__descriptor, data, len, &res) == PBCHECK_OK) {
		return false;
	}
	field = handlers_field_in_body(res.path);
	snprintf(message, sizeof(message), "%s: %s", field, res.message);
	r.has_id = req->has_id;
	r.id = req->id;
	st.has_code = 1;
	st.code = REFEX__STATUS_CODE__STATUS_INVALID;
	st.message = message;
	st.field = (char *)field;
	r.status = &st;
	session_send_response(s, &r);
	return true;
}

/* Handle one whole frame, or say there is none yet. Returns 1 to carry on, 0 to stop. */
static int session_one_frame(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in), len;
	uint8_t hdr[FRAME_HEADER_LEN];
	const uint8_t *payload;
	Refex__Request *req;
	struct pballoc budget;
	char message[128];

	evbuffer_copyout(in, hdr, avail < sizeof(hdr) ? avail : sizeof(hdr));
	switch (frame_parse(hdr, avail, s->hub->cfg->limits.max_frame, &len)) {
	case FRAME_NEED_MORE:
		return 0;
	case FRAME_BAD:
		if (len == 0) {
			session_bad_frame(s, 0, REFEX__STATUS_CODE__STATUS_INVALID,
			                  "empty frame (length 0)");
		} else {
			snprintf(message, sizeof(message),
			         "frame of %zu bytes exceeds the limit of %u bytes", len,
			         s->hub->cfg->limits.max_frame);
			session_bad_frame(s, 0, REFEX__STATUS_CODE__STATUS_TOO_LARGE, message);
		}
		return 0;
	case FRAME_OK:
		break;
	}
	payload = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + len));
	if (payload == NULL) {
		session_close(s, "out of memory");
		return 0;
	}
	payload += FRAME_HEADER_LEN;
	/* A budget per frame: a small frame must not make protobuf-c allocate a lot. */
	pballoc_init(&budget, len);
	req = refex__request__unpack(&budget.allocator, len, payload);
	if (req == NULL && budget.exhausted) {
		snprintf(
		    message, sizeof(message),
		    "request too complex: decoding its %zu bytes would take more than %zu bytes",
		    len, budget.budget);
		session_bad_frame(s, session_peek_id(payload, len),
		                  REFEX__STATUS_CODE__STATUS_TOO_LARGE, message);
	} else if (req == NULL) {
		session_undecodable(s, payload, len);
	} else if (session_bad_text(s, req, payload, len)) {
		refex__request__free_unpacked(req, NULL);
		req = NULL;
	}
	evbuffer_drain(in, FRAME_HEADER_LEN + len);
	if (req != NULL) {
		handlers_dispatch(s, req);
	}
	return s->state == SESSION_OPEN && !s->paused && !s->throttled;
}

/* A partial frame waited too long: every byte restarts the idle timeout, so a peer sending
 * one byte a second would otherwise hold its connection (and the buffered bytes) for ever. */
static void session_frame_expired(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (s->state == SESSION_OPEN && !s->paused && !s->throttled &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		log_warnx(
		    "conn=%llu agency=%s msg=\"bad frame\" reason=\"frame not finished within "
		    "%u s\"",
		    (unsigned long long)s->id, s->who.agency, s->hub->cfg->limits.idle_timeout);
		session_close(s, "frame not finished in time");
	}
}

/* Give a partial frame idle_timeout to arrive whole, counted from its first byte or from the
 * last frame handled (progress), never restarted by a byte alone. */
static void session_frame_deadline(struct session *s, bool progress)
{
	struct timeval t = {.tv_sec = s->hub->cfg->limits.idle_timeout};

	if (s->state != SESSION_OPEN || s->paused || s->throttled ||
	    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0) {
		if (s->frame_timer != NULL) {
			event_del(s->frame_timer);
		}
		return;
	}
	if (s->frame_timer == NULL &&
	    (s->frame_timer = evtimer_new(s->hub->base, session_frame_expired, s)) == NULL) {
		return; /* out of memory: the idle timeout still applies */
	}
	if (progress || !evtimer_pending(s->frame_timer, NULL)) {
		evtimer_add(s->frame_timer, &t);
	}
}

static void session_process(struct session *s)
{
	size_t before = evbuffer_get_length(bufferevent_get_input(s->bev));

	session_ref(s);
	while (s->state == SESSION_OPEN && !s->paused && !s->throttled && session_one_frame(s)) {
	}
	if (s->state == SESSION_OPEN) {
		session_frame_deadline(s,
		                       evbuffer_get_length(bufferevent_get_input(s->bev)) < before);
	}
	session_unref(s);
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process(arg);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	size_t queued = evbuffer_get_length(bufferevent_get_output(bev));

	session_ref(s); /* processing requests or pumping events may close it */
	session_write_ready(s, bev, queued);
	session_unref(s);
}

static void session_write_ready(struct session *s, struct bufferevent *bev, size_t queued)
{
	if (s->state == SESSION_CLOSING && queued == 0 && s->inflight == 0) {
		session_close(s, "closed after reply");
		return;
	}
	if (s->paused && !s->throttled && s->state == SESSION_OPEN && !s->hub->stopping &&
	    queued <= session_output_limit(s) / 2) {
		s->paused = false;
		bufferevent_enable(bev, EV_READ);
		log_debug("conn=%llu msg=\"reading resumed\"", (unsigned long long)s->id);
		session_process(s); /* requests may already be buffered */
	}
	if (s->watch_next > 0 && s->state == SESSION_OPEN &&
	    queued <= session_output_limit(s) / 2) {
		watch_pump(s); /* a replay waiting for room */
	}
}

/* The handshake did not finish in time: bufferevent timeouts restart on every byte, so a
 * peer trickling its hello would otherwise hold a connection slot for as long as it likes. */
static void session_handshake_expired(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	char why[64];

	(void)fd;
	(void)what;
	if (s->state == SESSION_HANDSHAKE) {
		snprintf(why, sizeof(why), "handshake not finished within %u s",
		         s->hub->cfg->limits.handshake_timeout);
		session_log_refused(s, why);
		metrics_handshake_failed(METRICS_HS_TIMEOUT);
		session_close(s, "handshake timed out");
	}
}

/* The peer is known (s->who): admit it if its agency is a partner, and start reading. */
static void session_open(struct session *s)
{
	const struct limits *l = &s->hub->cfg->limits;
	struct timeval idle = {.tv_sec = l->idle_timeout};
	char err[256];

	session_enter(s, SESSION_OPEN);
	s->agency = config_agency_index(s->hub->cfg, s->who.agency);
	if (s->agency < 0) {
		session_log_refused(s, "agency not in the partnership");
		metrics_handshake_failed(METRICS_HS_NOT_PARTNER);
		snprintf(err, sizeof(err), "agency \"%s\" is not a partner in this network",
		         s->who.agency);
		session_refuse(s, 0, REFEX__STATUS_CODE__STATUS_FORBIDDEN, err);
		session_close_after_flush(s, "agency not in the partnership");
		return;
	}
	/* A peer that neither sends nor reads for the idle time is dropped. */
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	log_info("conn=%llu msg=connected agency=%s serial=%s", (unsigned long long)s->id,
	         s->who.agency, s->who.serial);
	session_process(s);
}

static void session_handshake_done(struct session *s)
{
	char err[256];
	const char *refused;

	event_del(s->handshake_timer);
	if (transport_peer_identity(s->bev, &s->who, err, sizeof(err)) < 0) {
		session_log_refused(s, err);
		metrics_handshake_failed(METRICS_HS_BAD_IDENTITY);
		session_close(s, "bad certificate");
		return;
	}
	/* The handshake checked the certificate against the trust it began under: a reload
	 * since (a holder revoked meanwhile) must not let it in. */
	if ((refused = transport_trusted_now(s->bev, s->hub->tls, err, sizeof(err))) != NULL) {
		session_log_refused(s, err);
		metrics_handshake_failed(refused);
		session_close(s, "certificate no longer accepted");
		return;
	}
	session_open(s);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		session_handshake_done(s);
		return;
	}
	if (s->state == SESSION_HANDSHAKE) {
		if (what & BEV_EVENT_TIMEOUT) {
			snprintf(why, sizeof(why), "handshake timed out");
			metrics_handshake_failed(METRICS_HS_TIMEOUT);
		} else {
			metrics_handshake_failed(
			    transport_describe_error(bev, why, sizeof(why), &s->who));
		}
		session_log_refused(s, why);
		session_close(s, "handshake failed");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_close(s, "idle timeout");
	} else if (what & BEV_EVENT_ERROR) {
		struct identity ignored;

		transport_describe_error(bev, why, sizeof(why), &ignored);
		session_close(s, why);
	} else {
		session_close(s, "closed by peer");
	}
}

/* List s in hub, in the handshake state, with the hub's reference. */
static void session_init(struct session *s, struct hub *hub)
{
	s->id = ++hub->next_session_id;
	s->hub = hub;
	s->agency = -1;
	s->refs = 1; /* the hub's list */
	s->state = SESSION_HANDSHAKE;
	TAILQ_INSERT_TAIL(&hub->sessions, s, all);
	hub->n_sessions++;
}

/* Give s its bufferevent's callbacks and write watermark. */
static void session_attach(struct session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, s->hub->cfg->limits.output_buffer / 2, 0);
}

/* The peer sent its first bytes (or closed): only now does the connection get its TLS state,
 * tens of KB, so that one that never starts TLS costs a few hundred bytes while it waits. */
static void session_first_bytes(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct hub *hub = s->hub;
	struct timeval hs = {.tv_sec = hub->cfg->limits.handshake_timeout};

	(void)what;
	event_free(s->first_bytes);
	s->first_bytes = NULL;
	if ((s->bev = transport_accept(hub->base, hub->tls, fd)) == NULL) {
		evutil_closesocket(fd);
		log_error("conn=%llu msg=\"cannot start TLS\"", (unsigned long long)s->id);
		session_close(s, "cannot start TLS");
		return;
	}
	session_attach(s);
	bufferevent_set_timeouts(s->bev, &hs, &hs);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* Take over an accepted socket from sa and wait for its TLS handshake to begin. */
struct session *session_new(struct hub *hub, evutil_socket_t fd, const struct sockaddr *sa)
{
	struct timeval hs = {.tv_sec = hub->cfg->limits.handshake_timeout};
	struct session *s = calloc(1, sizeof(*s));

	if (s == NULL ||
	    (s->first_bytes = event_new(hub->base, fd, EV_READ, session_first_bytes, s)) == NULL ||
	    (s->handshake_timer = evtimer_new(hub->base, session_handshake_expired, s)) == NULL) {
		goto fail;
	}
	s->budget.shed = session_shed;
	if (addr_budget_enter(hub, &s->budget, sa) < 0) {
		goto fail;
	}
	session_init(s, hub);
	session_set_peer(s, sa);
	if (evtimer_add(s->handshake_timer, &hs) < 0 || event_add(s->first_bytes, NULL) < 0) {
		session_close(s, "cannot start session");
		return NULL;
	}
	return s;
fail:
	if (s != NULL && s->first_bytes != NULL) {
		event_free(s->first_bytes);
	}
	if (s != NULL && s->handshake_timer != NULL) {
		event_free(s->handshake_timer);
	}
	free(s);
	evutil_closesocket(fd);
	return NULL;
}

/* Take over bev, a connection secured by other means, as the session of peer who. This is the
 * seam the HTTPS door (web.c) and the fuzzer (tests/fuzz/fuzz_request.c) use to drive the
 * request path without TLS of its own. */
struct session *session_new_open(struct hub *hub, struct bufferevent *bev,
                                 const struct identity *who)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	s->bev = bev;
	s->who = *who;
	session_init(s, hub);
	session_attach(s);
	s->refs++; /* the caller's */
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	session_open(s);
	return s;
}

/* Close a session now. */
void session_close(struct session *s, const char *why)
{
	struct hub *hub = s->hub;

	if (s->state == SESSION_DEAD) {
		return;
	}
	if (s->state != SESSION_HANDSHAKE) {
		log_info("conn=%llu msg=disconnected agency=%s reason=\"%s\"",
		         (unsigned long long)s->id, s->who.agency, why);
	}
	if (s->greeted) {
		TAILQ_REMOVE(&hub->by_agency[s->agency], s, peers);
		s->greeted = false;
	}
	session_enter(s, SESSION_DEAD);
	if (s->handshake_timer != NULL) { /* none when made by session_new_open */
		event_free(s->handshake_timer);
		s->handshake_timer = NULL;
	}
	if (s->frame_timer != NULL) {
		event_free(s->frame_timer);
		s->frame_timer = NULL;
	}
	if (s->first_bytes != NULL) { /* TLS never started */
		evutil_closesocket(event_get_fd(s->first_bytes));
		event_free(s->first_bytes);
		s->first_bytes = NULL;
	}
	TAILQ_REMOVE(&hub->sessions, s, all);
	hub->n_sessions--;
	if (s->bev != NULL) {
		transport_close(s->bev);
		s->bev = NULL;
	}
	session_unref(s);
}

/* Make tls the connection a reload checks again for s. */
void session_set_vouch(struct session *s, struct bufferevent *tls)
{
	s->vouch = tls;
}

/* Hold a reference across an asynchronous operation. */
void session_ref(struct session *s)
{
	s->refs++;
}

/* Drop a reference; free the session when the last one goes. */
void session_unref(struct session *s)
{
	if (--s->refs == 0) {
		free(s);
	}
}

/* Say whether replies can still be sent on s. */
bool session_is_open(const struct session *s)
{
	return s->state == SESSION_OPEN || s->state == SESSION_CLOSING;
}

/* Return the hub s belongs to. */
struct hub *session_hub(const struct session *s)
{
	return s->hub;
}

/* Return the connection id used in logs. */
uint64_t session_id(const struct session *s)
{
	return s->id;
}

/* Return the verified identity of the peer. */
const struct identity *session_identity(const struct session *s)
{
	return &s->who;
}

/* Say whether the peer has said Hello. */
bool session_is_greeted(const struct session *s)
{
	return s->greeted;
}

/* Record that the peer said Hello. */
void session_set_greeted(struct session *s)
{
	if (!s->greeted) {
		s->greeted = true;
		TAILQ_INSERT_TAIL(&s->hub->by_agency[s->agency], s, peers);
	}
}

/* Close every open session whose certificate no longer verifies against hub->tls. */
size_t session_recheck_all(struct hub *hub)
{
	struct session *s, *next;
	char why[256];
	size_t closed = 0;

	for (s = TAILQ_FIRST(&hub->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, all);
		if (s->state != SESSION_OPEN && s->state != SESSION_CLOSING) {
			continue;
		}
		if (transport_verify_again(s->vouch ? s->vouch : s->bev, hub->tls, why,
		                           sizeof(why)) < 0) {
			log_warnx(
			    "conn=%llu msg=\"certificate no longer accepted\" agency=%s serial=%s "
			    "reason=\"%s\"",
			    (unsigned long long)s->id, s->who.agency, s->who.serial, why);
			session_close(s, "certificate no longer accepted");
			closed++;
		}
	}
	return closed;
}

/* Point every session at its agency's index in cfg and rebuild the greeted lists in lists. */
void session_rebind_all(struct hub *hub, const struct config *cfg, struct session_list *lists)
{
	struct session *s;

	TAILQ_FOREACH(s, &hub->sessions, all)
	{
		/* A handshake still under way looks its agency up in the new cfg when it ends. */
		if (s->state == SESSION_HANDSHAKE) {
			continue;
		}
		s->agency = config_agency_index(cfg, s->who.agency);
		if (s->greeted && s->agency < 0) {
			s->greeted = false; /* the old list goes with the old configuration */
		} else if (s->greeted) {
			if (s->watch_next > 0) {
				TAILQ_INSERT_HEAD(&lists[s->agency], s, peers); /* watchers lead */
			} else {
				TAILQ_INSERT_TAIL(&lists[s->agency], s, peers);
			}
		}
	}
}

/* Close every open session whose agency left the partnership. */
size_t session_close_unpartnered(struct hub *hub)
{
	struct session *s, *next;
	size_t closed = 0;

	for (s = TAILQ_FIRST(&hub->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, all);
		if (s->state == SESSION_HANDSHAKE || s->agency >= 0) {
			continue;
		}
		log_warnx("conn=%llu msg=\"agency no longer a partner\" agency=%s serial=%s "
		          "reason=\"removed from the configuration\"",
		          (unsigned long long)s->id, s->who.agency, s->who.serial);
		session_close(s, "agency no longer a partner");
		closed++;
	}
	return closed;
}

/* Count unanswered requests and unsent bytes over every session. */
size_t session_unanswered_all(struct hub *hub, size_t *unsent_bytes)
{
	struct session *s;
	size_t n = 0;

	*unsent_bytes = 0;
	TAILQ_FOREACH(s, &hub->sessions, all)
	{
		n += s->inflight;
		if (s->state != SESSION_HANDSHAKE) {
			*unsent_bytes += evbuffer_get_length(bufferevent_get_output(s->bev));
		}
	}
	return n;
}

/* Say whether every session has sent everything it queued. */
bool session_all_flushed(struct hub *hub)
{
	struct session *s;

	TAILQ_FOREACH(s, &hub->sessions, all)
	{
		if (s->state != SESSION_HANDSHAKE &&
		    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0) {
			return false;
		}
	}
	return true;
}

/* Stop reading requests on every session. */
void session_stop_reading_all(struct hub *hub)
{
	struct session *s;

	TAILQ_FOREACH(s, &hub->sessions, all)
	{
		if (s->bev != NULL) {
			bufferevent_disable(s->bev, EV_READ);
		} else if (s->first_bytes != NULL) {
			event_del(s->first_bytes);
		}
		s->paused = true;
	}
}
