/* The raw TLS client: frames sent and read by hand, for protocol-level tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forms/housing_support.pb-c.h"
#include "harness.h"
#include "harness_private.h"

#define RAW_FRAME_MAX (16u * 1024u * 1024u)

/* One connection to refexd; closed once the server closed it or it failed. */
struct raw {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	bool closed;
	bool partial; /* the server closed in the middle of a frame */
	BIO *held;    /* while holding back our Finished: what we wrote and did not send */
};

/* Wait for the socket as an SSL call asked (want read or write). Returns 0, or -1 on timeout. */
static int raw_wait(struct raw *c, int err, int64_t deadline)
{
	struct pollfd p = {.fd = c->fd, .events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
	int r;

	do {
		r = poll(&p, 1, remaining_ms(deadline));
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

/* Make a TLS 1.3 client context trusting ca, with the certificate prefix (NULL: none). */
static SSL_CTX *raw_ctx(const char *prefix, const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (prefix != NULL) {
		snprintf(cert, sizeof(cert), "%s.crt", prefix);
		snprintf(key, sizeof(key), "%s.key", prefix);
		if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Open a plain TCP connection to the net's refexd from src. */
int net_tcp_connect(const struct net *n, const char *src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->port)};
	struct sockaddr_in from = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && src != NULL &&
	    (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
	     bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0)) {
		close(fd);
		return -1;
	}
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Say whether the peer closed fd (EOF or reset) within timeout_ms. */
bool net_tcp_closed(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b;

	if (poll(&p, 1, timeout_ms) <= 0) {
		return false;
	}
	return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

/* Connect to the net's refexd and make the socket non-blocking; returns the fd or -1. */
static int raw_tcp(const struct net *n)
{
	int fd = net_tcp_connect(n, NULL);

	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connect to refexd and set up TLS on the socket, the handshake not started; NULL on failure. */
static struct raw *raw_open(const struct net *n, const char *prefix, const char *ca)
{
	struct raw *c = calloc(1, sizeof(*c));

	signal(SIGPIPE, SIG_IGN);
	if (c == NULL) {
		return NULL;
	}
	c->fd = -1;
	if ((c->ctx = raw_ctx(prefix, ca ? ca : n->ca)) == NULL ||
	    (c->ssl = SSL_new(c->ctx)) == NULL || (c->fd = raw_tcp(n)) < 0 ||
	    !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		c->closed = true;
		raw_free(c);
		return NULL;
	}
	return c;
}

/* Send the first len bytes held back, within the deadline. Returns 0 or -1. */
static int raw_send_held(struct raw *c, size_t len, int64_t deadline)
{
	char chunk[4096];

	while (len > 0) {
		int n =
		    BIO_read(c->held, chunk, len < sizeof(chunk) ? (int)len : (int)sizeof(chunk));

		for (int off = 0; n > 0 && off < n;) {
			ssize_t w = write(c->fd, chunk + off, (size_t)(n - off));

			if (w > 0) {
				off += (int)w;
			} else if (w < 0 && errno == EAGAIN &&
			           raw_wait(c, SSL_ERROR_WANT_WRITE, deadline) == 0) {
				continue;
			} else {
				return -1;
			}
		}
		if (n <= 0) {
			return -1;
		}
		len -= (size_t)n;
	}
	return 0;
}

/* How many bytes of the held TLS records come before the last one. */
static size_t raw_held_before_last_record(struct raw *c)
{
	const unsigned char *p;
	long len = BIO_get_mem_data(c->held, (char **)&p);
	size_t off = 0, last = 0;

	/* A record is a 5-byte header (type, version, length) and its body. */
	while (len > 0 && off + 5 <= (size_t)len) {
		last = off;
		off += 5 + ((size_t)p[off + 3] << 8 | p[off + 4]);
	}
	return last;
}

/* Run our side of the handshake; with c->held, keep what we write there, sending all of it
 * but, at the end, the last record (Finished). Returns 0 or -1. */
static int raw_handshake(struct raw *c)
{
	int64_t deadline = now_ms() + HARNESS_READ_TIMEOUT_MS;
	int r;

	while ((r = SSL_connect(c->ssl)) != 1) {
		int e = SSL_get_error(c->ssl, r);

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    (c->held != NULL &&
		     raw_send_held(c, (size_t)BIO_pending(c->held), deadline) < 0) ||
		    raw_wait(c, e, deadline) < 0) {
			return -1;
		}
	}
	return c->held == NULL ? 0 : raw_send_held(c, raw_held_before_last_record(c), deadline);
}

/* Connect to refexd and finish our side of the TLS handshake. */
struct raw *raw_connect(const struct net *n, const char *prefix, const char *ca)
{
	struct raw *c = raw_open(n, prefix, ca);

	if (c != NULL && raw_handshake(c) < 0) {
		ERR_clear_error();
		c->closed = true;
		raw_free(c);
		return NULL;
	}
	return c;
}

/* Connect as raw_connect does, holding back our Finished. */
struct raw *raw_connect_holding_finished(const struct net *n, const char *prefix)
{
	struct raw *c = raw_open(n, prefix, NULL);

	if (c == NULL || (c->held = BIO_new(BIO_s_mem())) == NULL) {
		raw_free(c);
		return NULL;
	}
	BIO_up_ref(c->held); /* one for the SSL, which writes into it; one for us */
	SSL_set0_wbio(c->ssl, c->held);
	if (raw_handshake(c) < 0) {
		ERR_clear_error();
		c->closed = true;
		raw_free(c);
		return NULL;
	}
	return c;
}

/* Send the Finished raw_connect_holding_finished held back; write to the socket from then on. */
int raw_release_finished(struct raw *c)
{
	BIO *sock = BIO_new_socket(c->fd, BIO_NOCLOSE);
	int rc = raw_send_held(c, (size_t)BIO_pending(c->held), now_ms() + HARNESS_READ_TIMEOUT_MS);

	if (sock == NULL) {
		return -1;
	}
	SSL_set0_wbio(c->ssl, sock);
	BIO_free(c->held);
	c->held = NULL;
	return rc;
}

/* Send bytes as they are. */
int raw_send_bytes(struct raw *c, const void *buf, size_t len)
{
	return raw_send_within(c, buf, len, HARNESS_READ_TIMEOUT_MS);
}

/* Send bytes as they are within timeout_ms. */
int raw_send_within(struct raw *c, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int r;

	if (len == 0) {
		return 0;
	}
	while ((r = SSL_write(c->ssl, buf, (int)len)) <= 0) {
		int e = SSL_get_error(c->ssl, r);

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    raw_wait(c, e, deadline) < 0) {
			ERR_clear_error();
			return -1;
		}
	}
	return 0;
}

/* Send a request as one frame. */
int raw_send_request(struct raw *c, const Refex__Request *req)
{
	size_t n = refex__request__get_packed_size(req);
	uint8_t *frame = malloc(n + 4);
	int rc;

	if (frame == NULL) {
		return -1;
	}
	frame[0] = (uint8_t)(n >> 24);
	frame[1] = (uint8_t)(n >> 16);
	frame[2] = (uint8_t)(n >> 8);
	frame[3] = (uint8_t)n;
	refex__request__pack(req, frame + 4);
	rc = raw_send_bytes(c, frame, n + 4);
	free(frame);
	return rc;
}

/* Read exactly len bytes. Returns 0, -1 on close or error, -2 on timeout. */
static int raw_read_exact(struct raw *c, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		int r = SSL_read(c->ssl, buf + got, (int)(len - got));
		int e;

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (raw_wait(c, e, deadline) < 0) {
				return -2;
			}
			continue;
		}
		ERR_clear_error();
		c->closed = true;
		c->partial = c->partial || got > 0;
		return -1;
	}
	return 0;
}

/* Read one ServerMessage. */
Refex__ServerMessage *raw_read_message(struct raw *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t hdr[4], *payload;
	Refex__ServerMessage *m;
	uint32_t len;

	if (c->closed || raw_read_exact(c, hdr, sizeof(hdr), deadline) < 0) {
		return NULL;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > RAW_FRAME_MAX || (payload = malloc(len)) == NULL) {
		return NULL;
	}
	if (raw_read_exact(c, payload, len, deadline) < 0) {
		c->partial = c->partial || c->closed; /* a header without its body */
		free(payload);
		return NULL;
	}
	m = refex__server_message__unpack(NULL, len, payload);
	free(payload);
	return m;
}

/* Send a request and wait for its response, skipping events. */
Refex__ServerMessage *raw_call(struct raw *c, const Refex__Request *req)
{
	int64_t deadline = now_ms() + HARNESS_READ_TIMEOUT_MS;
	Refex__ServerMessage *m;

	if (raw_send_request(c, req) < 0) {
		return NULL;
	}
	while ((m = raw_read_message(c, remaining_ms(deadline))) != NULL) {
		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE &&
		    (m->response->id == req->id || !m->response->has_id)) {
			return m;
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	return NULL;
}

/* Say Hello. */
int raw_hello(struct raw *c)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello hello = REFEX__HELLO__INIT;
	Refex__ServerMessage *m;
	int rc = -1;

	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	hello.program = "refex-it/0.1.0";
	req.has_id = 1;
	req.id = 1;
	req.body_case = REFEX__REQUEST__BODY_HELLO;
	req.hello = &hello;
	if ((m = raw_call(c, &req)) != NULL) {
		Refex__Response *r = m->response;

		if (r->id == 1 && r->status && r->status->code == REFEX__STATUS_CODE__STATUS_OK &&
		    r->body_case == REFEX__RESPONSE__BODY_HELLO) {
			rc = 0;
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	return rc;
}

/* Read what the server sends into buf (NUL-terminated) until needle appears in it. */
bool raw_read_until(struct raw *c, char *buf, size_t cap, const char *needle, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = strlen(buf);

	while (strstr(buf, needle) == NULL) {
		if (len + 1 >= cap || c->closed ||
		    raw_read_exact(c, (uint8_t *)buf + len, 1, deadline) < 0) {
			return false;
		}
		buf[++len] = '\0';
	}
	return true;
}

/* Drain the connection until the server closes it. */
bool raw_wait_closed(struct raw *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t scratch[4096];

	while (!c->closed) {
		int r = SSL_read(c->ssl, scratch, sizeof(scratch));
		int e;

		if (r > 0) {
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (raw_wait(c, e, deadline) < 0) {
				return false;
			}
			continue;
		}
		ERR_clear_error();
		c->closed = true;
	}
	return true;
}

/* Close and free a raw client. */
void raw_free(struct raw *c)
{
	if (c == NULL) {
		return;
	}
	if (c->ssl != NULL && !c->closed) {
		SSL_shutdown(c->ssl); /* best effort: a non-blocking close_notify */
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	BIO_free(c->held);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c);
}

/* Ask for the forms; return how many came back with status OK, or -1. */
int raw_list_forms(struct raw *c, uint64_t id)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ServerMessage *m;
	int n = -1;

	req.has_id = 1;
	req.id = id;
	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	if ((m = raw_call(c, &req)) == NULL) {
		return -1;
	}
	if (m->response->id == id && m->response->status &&
	    m->response->status->code == REFEX__STATUS_CODE__STATUS_OK && m->response->forms) {
		n = (int)m->response->forms->n_forms;
	}
	refex__server_message__free_unpacked(m, NULL);
	return n;
}

/* Ask for the caller's sent box or inbox (request id, one page of 100); return how many
 * referrals it lists, or -1. */
static int raw_count_box(struct raw *c, uint64_t id, bool inbox)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;
	Refex__ServerMessage *m;
	int n = -1;

	l.has_limit = 1;
	l.limit = 100;
	req.has_id = 1;
	req.id = id;
	req.body_case = inbox ? REFEX__REQUEST__BODY_LIST_INBOX : REFEX__REQUEST__BODY_LIST_SENT;
	*(inbox ? &req.list_inbox : &req.list_sent) = &l;
	if ((m = raw_call(c, &req)) == NULL) {
		return -1;
	}
	if (m->response->status && m->response->status->code == REFEX__STATUS_CODE__STATUS_OK &&
	    m->response->body_case == REFEX__RESPONSE__BODY_PAGE) {
		n = (int)m->response->page->n_referrals;
	}
	refex__server_message__free_unpacked(m, NULL);
	return n;
}

/* Ask for the caller's sent box (request id, one page of 100); return how many referrals it
 * lists, or -1 when it was refused or no answer came. */
int raw_count_sent(struct raw *c, uint64_t id)
{
	return raw_count_box(c, id, false);
}

/* Ask for the caller's inbox as raw_count_sent does its sent box. */
int raw_count_inbox(struct raw *c, uint64_t id)
{
	return raw_count_box(c, id, true);
}

/* Fill s with a housing referral from north-advice to eastside-housing. */
void raw_submit_init(struct raw_submit *s, uint64_t id, const char *given_name)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;

	refex__request__init(&s->req);
	refex__submit_referral__init(&s->sub);
	refex__client_record__init(&s->client);
	refex__consent__init(&s->consent);
	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__NO_FIXED_ABODE;
	s->client.given_name = (char *)given_name;
	s->client.family_name = "Lee";
	s->consent.to_agency = "eastside-housing";
	s->consent.purpose = "housing support referral";
	s->consent.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	s->sub.to = "eastside-housing";
	s->sub.form = "housing_support";
	s->sub.has_form_data = 1;
	s->sub.form_data.data = s->data;
	s->sub.form_data.len = refex__forms__housing_support__pack(&form, s->data);
	s->sub.client = &s->client;
	s->sub.consent = &s->consent;
	s->req.has_id = 1;
	s->req.id = id;
	s->req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	s->req.submit = &s->sub;
}

/* Store record as a client of c's agency (request id 60): the answer's status code. */
int raw_add_client(struct raw *c, Refex__ClientRecord *record, char *id)
{
	Refex__AddClient add = REFEX__ADD_CLIENT__INIT;
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ServerMessage *m;
	int st;

	add.record = record;
	req.has_id = 1;
	req.id = 60;
	req.body_case = REFEX__REQUEST__BODY_ADD_CLIENT;
	req.add_client = &add;
	m = raw_call(c, &req);
	st = m && m->response && m->response->status ? (int)m->response->status->code : -1;
	if (st == REFEX__STATUS_CODE__STATUS_OK) {
		snprintf(id, REFEX_ID_LEN + 1, "%s", m->response->client->id);
	}
	if (m != NULL) {
		refex__server_message__free_unpacked(m, NULL);
	}
	return st;
}

/* Say whether the server closed with close_notify on a frame boundary. */
bool raw_closed_cleanly(const struct raw *c)
{
	return c->closed && !c->partial && (SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN);
}

/* Watch the agency's events from after since (since < 0: from now); the newest seq or -1. */
long long raw_watch(struct raw *c, long long since)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Watch w = REFEX__WATCH__INIT;
	Refex__ServerMessage *m;
	long long last = -1;

	w.has_since = since >= 0;
	w.since = since >= 0 ? (uint64_t)since : 0;
	req.has_id = 1;
	req.id = 7;
	req.body_case = REFEX__REQUEST__BODY_WATCH;
	req.watch = &w;
	if ((m = raw_call(c, &req)) == NULL) {
		return -1;
	}
	if (m->response->status->code == REFEX__STATUS_CODE__STATUS_OK &&
	    m->response->body_case == REFEX__RESPONSE__BODY_WATCH) {
		last = (long long)m->response->watch->last_seq;
	}
	refex__server_message__free_unpacked(m, NULL);
	return last;
}
