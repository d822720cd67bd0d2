/* The client's transport: TCP with a timeout, TLS 1.3, frames, Hello, request/response. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crl_keep.h"
#include "frame.h"

#define CERT_WARN_DAYS 30
/* Whatever a server announces, refex never reads a reply frame larger than this:
 * the length comes off the network and is allocated before the payload arrives. */
#define CONN_REPLY_MAX (64u * 1024u * 1024u)

struct conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	uint64_t next_id;
	size_t max_frame;       /* largest request frame the server takes */
	size_t max_reply;       /* largest reply frame we accept */
	Refex__Response *hello; /* the server's answer to Hello */
	int refusal;            /* the status code of a refused Hello, else -1 */
	int tls_failed;         /* the last failure was TLS itself, not the network */
	int hub_revoked;        /* the network's CRL revokes the hub's certificate */
	struct crl_keep *keep;  /* the newest CRL seen from the network's CA */
	char address[300];      /* as the user gave it, for messages */
};

/* Split "HOST:PORT" or "[HOST]:PORT" into host and port. */
int conn_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *h = address, *colon;
	size_t n;
	char *end;
	long p;

	if (address[0] == '[') {
		const char *close = strchr(address, ']');

		if (!close || close[1] != ':') {
			return -1;
		}
		h = address + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(address, ':');
		if (!colon || memchr(address, ':', (size_t)(colon - address))) {
			return -1; /* a bare IPv6 address is ambiguous: ask for brackets */
		}
		n = (size_t)(colon - address);
	}
	if (n == 0 || n >= hostlen) {
		return -1;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 1 || p > 65535 ||
	    strlen(colon + 1) >= portlen) {
		return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connect one address within the timeout; returns the fd, or -1 with errno set. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	int fd, soerr = 0, rc;
	socklen_t len = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do {
			rc = poll(&pfd, 1, timeout_ms);
		} while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
			goto fail;
		}
		if (soerr) {
			errno = soerr;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		goto fail;
	}
	/* Requests are small writes answered at once: do not let Nagle hold them back. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	return fd;
fail:
	rc = errno;
	close(fd);
	errno = rc;
	return -1;
}

/* Open a TCP connection to host:port, trying each address in turn. */
static int tcp_connect(const char *address, const char *host, const char *port, char *err,
                       size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	int fd = -1, rc, last = ECONNREFUSED;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "could not connect to %s: cannot find %s (%s)", address, host,
		         gai_strerror(rc));
		errno = 0;
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = connect_one(ai, CONN_CONNECT_TIMEOUT_S * 1000);
		if (fd < 0) {
			last = errno;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		return fd;
	}
	if (last == ECONNREFUSED) {
		snprintf(err, errlen,
		         "could not connect to %s: connection refused (is refexd running?)",
		         address);
	} else if (last == ETIMEDOUT) {
		snprintf(err, errlen, "could not connect to %s: no answer within %d seconds",
		         address, CONN_CONNECT_TIMEOUT_S);
	} else {
		snprintf(err, errlen, "could not connect to %s: %s", address, strerror(last));
	}
	errno = last; /* for refex doctor, which words its own advice */
	return -1;
}

/* Say why an SSL call failed, in plain words. */
static void describe_io_failure(struct conn *c, int ret, int timeout_s, char *err, size_t errlen)
{
	int saved = errno;
	int e = SSL_get_error(c->ssl, ret);
	char why[512] = "";

	c->tls_failed = 0;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
	                                   (saved == 0 || saved == ECONNRESET || saved == EPIPE))) {
		ERR_clear_error();
		snprintf(err, errlen, "the server closed the connection");
		return;
	}
	/* The socket's timeout ran out: OpenSSL says "want read" (or write) for that. */
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
	    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
	     (saved == EAGAIN || saved == EWOULDBLOCK))) {
		ERR_clear_error();
		snprintf(err, errlen, "the server did not answer within %d seconds", timeout_s);
		return;
	}
	/* An alert or a bad certificate fails the same way again; a dropped network may not. */
	c->tls_failed = e != SSL_ERROR_SYSCALL || ERR_peek_error() != 0;
	if (SSL_get_verify_result(c->ssl) == X509_V_ERR_CERT_REVOKED) {
		/* Refused in the handshake, before our certificate went out. */
		ERR_clear_error();
		c->hub_revoked = c->tls_failed = 1;
		snprintf(err, errlen, "%s", CONN_HUB_REVOKED);
		return;
	}
	tls_describe_failure(c->ssl, ret, why, sizeof(why));
	if (!why[0]) {
		snprintf(why, sizeof(why), "%s", saved ? strerror(saved) : "unknown TLS error");
	}
	snprintf(err, errlen, "connection to %s failed: %s", c->address, why);
}

static int read_full(struct conn *c, uint8_t *buf, size_t n, char *err, size_t errlen)
{
	size_t got = 0;
	int ret;

	while (got < n) {
		errno = 0;
		ret = SSL_read(c->ssl, buf + got, (int)(n - got > INT32_MAX ? INT32_MAX : n - got));
		if (ret <= 0) {
			describe_io_failure(c, ret, CONN_REPLY_TIMEOUT_S, err, errlen);
			return -1;
		}
		got += (size_t)ret;
	}
	return 0;
}

/* Read one ServerMessage. */
static Refex__ServerMessage *read_message(struct conn *c, char *err, size_t errlen)
{
	uint8_t hdr[FRAME_HEADER_LEN], *payload;
	Refex__ServerMessage *sm;
	size_t len = 0;

	if (read_full(c, hdr, sizeof(hdr), err, errlen) < 0) {
		return NULL;
	}
	/* With the header alone, a good length reads as "need more" (the payload). */
	if (frame_parse(hdr, sizeof(hdr), c->max_reply, &len) == FRAME_BAD) {
		if (len == 0) {
			snprintf(err, errlen, "the server sent an empty frame: giving up");
		} else {
			snprintf(err, errlen,
			         "the server sent a frame of %zu bytes (refex reads at most %zu): "
			         "giving up",
			         len, c->max_reply);
		}
		return NULL;
	}
	if (!(payload = malloc(len))) {
		snprintf(err, errlen, "out of memory reading a reply of %zu bytes", len);
		return NULL;
	}
	if (read_full(c, payload, len, err, errlen) < 0) {
		free(payload);
		return NULL;
	}
	sm = refex__server_message__unpack(NULL, len, payload);
	free(payload);
	if (!sm) {
		snprintf(err, errlen, "the server sent a message refex cannot read");
	}
	return sm;
}

/* Take the response out of sm so that it outlives sm. */
static Refex__Response *detach_response(Refex__ServerMessage *sm)
{
	Refex__Response *resp = sm->response;

	sm->response = NULL;
	sm->body_case = REFEX__SERVER_MESSAGE__BODY__NOT_SET;
	refex__server_message__free_unpacked(sm, NULL);
	return resp;
}

/* Pack req with the next id and write it; -2 when it cannot be sent, -1 when the write failed. */
static int send_request(struct conn *c, Refex__Request *req, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int ret;

	req->has_id = 1;
	req->id = c->next_id++;
	len = refex__request__get_packed_size(req);
	if (len > c->max_frame || len > UINT32_MAX) {
		snprintf(err, errlen, "the request is %zu bytes, more than the server takes (%zu)",
		         len, c->max_frame);
		return -2;
	}
	if (!(buf = malloc(FRAME_HEADER_LEN + len))) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	frame_put_header(buf, (uint32_t)len);
	refex__request__pack(req, buf + FRAME_HEADER_LEN);
	errno = 0;
	ret = SSL_write(c->ssl, buf, (int)(FRAME_HEADER_LEN + len));
	free(buf);
	if (ret <= 0) {
		describe_io_failure(c, ret, CONN_REPLY_TIMEOUT_S, err, errlen);
		return -1;
	}
	return 0;
}

/* Send req with the next id and wait for its response, skipping events. */
int conn_call(struct conn *c, Refex__Request *req, Refex__Response **resp, char *err, size_t errlen)
{
	Refex__ServerMessage *sm;
	int rc, write_failed = 0, tls_failed = 0;
	char write_err[512] = "";

	*resp = NULL;
	if ((rc = send_request(c, req, write_err, sizeof(write_err))) == -2) {
		snprintf(err, errlen, "%s", write_err);
		return -2;
	}
	if (rc < 0) {
		/* The server may have said why (a TLS alert) before closing: read it. */
		write_failed = 1;
		tls_failed = c->tls_failed;
	}
	for (;;) {
		if (!(sm = read_message(c, err, errlen))) {
			if (write_failed && strcmp(err, "the server closed the connection") == 0) {
				snprintf(err, errlen, "%s", write_err);
				c->tls_failed = tls_failed;
			}
			return -1;
		}
		if (sm->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE && sm->response &&
		    (sm->response->id == req->id || sm->response->id == 0)) {
			*resp = detach_response(sm);
			return 0;
		}
		/* An event, or the answer to something else: not what we wait for. */
		refex__server_message__free_unpacked(sm, NULL);
	}
}

/* Send req with the next id and do not wait for its response. */
int conn_send(struct conn *c, Refex__Request *req, char *err, size_t errlen)
{
	return send_request(c, req, err, errlen);
}

/* Wait up to timeout_ms for the next message, or for wake_fd to become readable. */
int conn_wait(struct conn *c, int timeout_ms, int wake_fd, Refex__ServerMessage **sm, char *err,
              size_t errlen)
{
	struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
	int rc;

	*sm = NULL;
	/* TLS may hold a whole record already read off the socket: poll would not see it. */
	if (SSL_pending(c->ssl) == 0) {
		rc = poll(p, wake_fd >= 0 ? 2 : 1, timeout_ms);
		if (rc < 0 && errno != EINTR) {
			snprintf(err, errlen, "cannot wait for the server: %s", strerror(errno));
			c->tls_failed = 0;
			return -1;
		}
		if (rc <= 0 || (wake_fd >= 0 && p[1].revents)) {
			return 0;
		}
	}
	if (!(*sm = read_message(c, err, errlen))) {
		return -1;
	}
	return 1;
}

/* Say whether the last failure on c was the network rather than TLS refusing us. */
int conn_failed_in_network(const struct conn *c)
{
	return !c->tls_failed;
}

/* Warn when our own certificate is close to its end: the hub will refuse it. */
static void warn_cert_expiry(SSL_CTX *ctx)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	const ASN1_TIME *end;
	int days = 0, secs = 0;
	struct tm tm;
	char when[32] = "";

	if (!cert || !(end = X509_get0_notAfter(cert)) ||
	    !ASN1_TIME_diff(&days, &secs, NULL, end)) {
		return;
	}
	if (days >= CERT_WARN_DAYS) {
		return;
	}
	if (ASN1_TIME_to_tm(end, &tm)) {
		strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	}
	if (days < 0 || (days == 0 && secs < 0)) {
		fprintf(stderr, "refex: warning: your certificate expired on %s\n", when);
	} else {
		fprintf(stderr,
		        "refex: warning: your certificate expires on %s (in %d days): ask your "
		        "partnership admin for a new one\n",
		        when, days);
	}
}

/* Return the largest reply frame to accept when the server takes requests of max_frame.
 * Replies carry a request's data plus history, so they may exceed the request limit;
 * still bound them (the server's limit comes off the network) so a broken server
 * cannot make refex allocate gigabytes or overflow the multiplication. */
static size_t conn_reply_limit(size_t max_frame)
{
	size_t base = max_frame > FRAME_MAX_DEFAULT ? max_frame : FRAME_MAX_DEFAULT;

	return base > CONN_REPLY_MAX / 4 ? CONN_REPLY_MAX : 4 * base;
}

/* Keep the CRL the hub sent when it is newer than ours, and check the hub's certificate
 * against it before anything but Hello goes out. Returns 0, or -1 with err set. */
static int check_hub_crl(struct conn *c, const Refex__HelloReply *h, char *err, size_t errlen)
{
	char why[512] = "";

	if (c->keep == NULL || !h->has_crl || h->crl.len == 0) {
		return 0;
	}
	switch (crl_keep_offer(c->keep, h->crl.data, h->crl.len, why, sizeof(why))) {
	case CRL_OFFER_BAD:
		fprintf(stderr,
		        "refex: warning: the hub sent a revocation list the network's CA did not "
		        "sign: ignored\n");
		return 0;
	case CRL_OFFER_OLDER:
		return 0;
	case CRL_OFFER_KEPT:
		if (why[0]) {
			fprintf(stderr, "refex: warning: %s\n", why);
		}
		break;
	}
	if (crl_keep_revokes(c->keep, SSL_get0_peer_certificate(c->ssl))) {
		c->hub_revoked = c->tls_failed = 1;
		snprintf(err, errlen, "%s", CONN_HUB_REVOKED);
		return -1;
	}
	return 0;
}

/* Say Hello and keep the reply; returns 0, or -1 (with *failure when the server said no). */
static int say_hello(struct conn *c, char *err, size_t errlen, enum conn_failure *failure)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello hello = REFEX__HELLO__INIT;
	Refex__Response *resp = NULL;
	const Refex__Limits *lim;

	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	hello.program = "refex/" REFEX_VERSION;
	req.body_case = REFEX__REQUEST__BODY_HELLO;
	req.hello = &hello;
	if (conn_call(c, &req, &resp, err, errlen) < 0) {
		return -1;
	}
	if (!resp->status || resp->status->code != REFEX__STATUS_CODE__STATUS_OK ||
	    resp->body_case != REFEX__RESPONSE__BODY_HELLO) {
		snprintf(err, errlen, "%s",
		         resp->status && resp->status->message && *resp->status->message
		             ? resp->status->message
		             : "the server did not accept our Hello");
		*failure = CONN_REFUSED;
		c->refusal = resp->status ? (int)resp->status->code : -1;
		refex__response__free_unpacked(resp, NULL);
		return -1;
	}
	c->hello = resp;
	if (check_hub_crl(c, resp->hello, err, errlen) < 0) {
		*failure = CONN_TLS_FAILED;
		return -1;
	}
	lim = resp->hello->limits;
	if (lim && lim->has_max_frame && lim->max_frame > 0) {
		c->max_frame = lim->max_frame;
	}
	c->max_reply = conn_reply_limit(c->max_frame);
	/* SSL_write takes an int: never let a server's limit lift requests past that. */
	if (c->max_frame > CONN_REPLY_MAX) {
		c->max_frame = CONN_REPLY_MAX;
	}
	return 0;
}

/* Allocate a connection to server, not yet connected; NULL when out of memory. */
static struct conn *conn_alloc(const char *server)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		return NULL;
	}
	c->fd = -1;
	c->next_id = 1;
	c->refusal = -1;
	c->max_frame = FRAME_MAX_DEFAULT;
	c->max_reply = conn_reply_limit(FRAME_MAX_DEFAULT);
	snprintf(c->address, sizeof(c->address), "%s", server);
	return c;
}

/* Warn when the CRL kept is past its next update: refex goes on checking against it. */
static void warn_crl_stale(const struct crl_keep *k)
{
	char when[16];

	if (crl_keep_is_stale(k, when, sizeof(when))) {
		fprintf(stderr,
		        "refex: warning: the network's revocation list (CRL) is out of date (next "
		        "update was %s): tell your partnership admin to re-sign it (refex-ca crl) "
		        "and give it to the hub\n",
		        when);
	}
}

/* Build c's TLS context from paths with the newest CRL known (kept in state_dir, or pinned in
 * paths->crl) guarding the handshake. Returns 0, or -1 with a plain-words reason in err. */
static int setup_tls(struct conn *c, const struct tls_paths *paths, const char *state_dir,
                     char *err, size_t errlen)
{
	char why[512] = "";

	if (!(c->ctx = tls_client_ctx_new(paths, why, sizeof(why))) ||
	    !(c->keep = crl_keep_open(paths->ca, state_dir, why, sizeof(why)))) {
		snprintf(err, errlen, "cannot set up TLS: %s", why);
		return -1;
	}
	if (paths->crl && crl_keep_pin(c->keep, paths->crl, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s (crl= in the config)", why);
		return -1;
	}
	if (crl_keep_guard(c->ctx, c->keep) < 0) {
		snprintf(err, errlen, "cannot set up TLS: out of memory");
		return -1;
	}
	warn_crl_stale(c->keep);
	return 0;
}

/* Connect, complete TLS and say Hello. */
struct conn *conn_open(const char *server, const struct tls_paths *paths, const char *state_dir,
                       char *err, size_t errlen, enum conn_failure *failure)
{
	struct conn *c = conn_alloc(server);
	char host[256], port[16];
	int ret;

	*failure = CONN_UNREACHED;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conn_split_address(server, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "bad server address '%s': expected HOST:PORT or [IPv6]:PORT",
		         server);
		*failure = CONN_BAD_SETUP;
		goto fail;
	}
	if (setup_tls(c, paths, state_dir, err, errlen) < 0) {
		*failure = CONN_BAD_SETUP;
		goto fail;
	}
	warn_cert_expiry(c->ctx);
	if ((c->fd = tcp_connect(server, host, port, err, errlen)) < 0) {
		goto fail;
	}
	set_timeouts(c->fd, CONN_CONNECT_TIMEOUT_S);
	if (!(c->ssl = SSL_new(c->ctx)) || !SSL_set_fd(c->ssl, c->fd)) {
		snprintf(err, errlen, "cannot set up TLS: out of memory");
		goto fail;
	}
	SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (tls_client_expect_host(c->ssl, host) < 0) {
		snprintf(err, errlen, "cannot set up TLS to check the server is %s", host);
		goto fail;
	}
	errno = 0;
	ret = SSL_connect(c->ssl);
	if (ret != 1) {
		describe_io_failure(c, ret, CONN_CONNECT_TIMEOUT_S, err, errlen);
		*failure = c->tls_failed ? CONN_TLS_FAILED : CONN_UNREACHED;
		goto fail;
	}
	set_timeouts(c->fd, CONN_REPLY_TIMEOUT_S);
	if (say_hello(c, err, errlen, failure) < 0) {
		if (*failure == CONN_UNREACHED && c->tls_failed) {
			*failure =
			    CONN_TLS_FAILED; /* e.g. TLS 1.3: the hub refused our certificate */
		}
		/* FORBIDDEN to Hello: the certificate's agency is not a partner here. That is
		 * the hub refusing the certificate, like any other trust failure. */
		if (*failure == CONN_REFUSED &&
		    c->refusal == REFEX__STATUS_CODE__STATUS_FORBIDDEN) {
			*failure = CONN_TLS_FAILED;
		}
		goto fail;
	}
	return c;
fail:
	conn_close(c);
	return NULL;
}

/* Return who the server says we are. */
struct conn_peer conn_peer(const struct conn *c)
{
	struct conn_peer p = {0};
	const Refex__HelloReply *h = c->hello ? c->hello->hello : NULL;

	if (h) {
		p.agency = h->agency;
		p.holder = h->holder;
		p.agency_name = h->agency_name;
		p.server = h->server;
	}
	return p;
}

/* Return the server's address as the user gave it. */
const char *conn_address(const struct conn *c)
{
	return c->address;
}

/* Return the forms digest of the server's Hello reply, or NULL when it sent none. */
const char *conn_forms_digest(const struct conn *c)
{
	const Refex__HelloReply *h = c->hello ? c->hello->hello : NULL;

	return h && h->forms_digest && *h->forms_digest ? h->forms_digest : NULL;
}

/* Write the SHA-256 fingerprint of the hub's certificate, in hex, to buf. */
int conn_hub_fingerprint(const struct conn *c, char *buf, size_t len)
{
	X509 *cert = c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 ||
	    OPENSSL_buf2hexstr_ex(buf, len, NULL, md, mdlen, '\0') != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Close the connection cleanly and free it. */
void conn_close(struct conn *c)
{
	if (!c) {
		return;
	}
	if (c->ssl) {
		/* Send close_notify; the server does not need to answer it. */
		if (SSL_is_init_finished(c->ssl)) {
			SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
	}
	if (c->fd >= 0) {
		close(c->fd);
	}
	SSL_CTX_free(c->ctx);
	crl_keep_free(c->keep);
	if (c->hello) {
		refex__response__free_unpacked(c->hello, NULL);
	}
	ERR_clear_error();
	free(c);
}

/* Split server into host and port, with a plain-words reason when it is malformed. */
static int split_or_say(const char *server, char *host, size_t hostlen, char *port, size_t portlen,
                        char *err, size_t errlen)
{
	if (conn_split_address(server, host, hostlen, port, portlen) < 0) {
		snprintf(err, errlen, "bad server address '%s': expected HOST:PORT or [IPv6]:PORT",
		         server);
		return -1;
	}
	return 0;
}

/* Resolve server's host and list its addresses. */
int conn_resolve(const char *server, char *addrs, size_t addrlen, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	char host[256], port[16], num[INET6_ADDRSTRLEN];
	size_t off = 0;
	int rc;

	if (split_or_say(server, host, sizeof(host), port, sizeof(port), err, errlen) < 0) {
		return -1;
	}
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot find %s (%s)", host, gai_strerror(rc));
		return -1;
	}
	addrs[0] = '\0';
	for (ai = res; ai && off + 1 < addrlen; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, num, sizeof(num), NULL, 0,
		                NI_NUMERICHOST) == 0) {
			off += (size_t)snprintf(addrs + off, addrlen - off, "%s%s", off ? ", " : "",
			                        num);
		}
	}
	freeaddrinfo(res);
	return 0;
}

/* Open only the TCP connection to server. */
struct conn *conn_dial(const char *server, char *err, size_t errlen, int *sys_errno)
{
	struct conn *c = conn_alloc(server);
	char host[256], port[16];

	*sys_errno = 0;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (split_or_say(server, host, sizeof(host), port, sizeof(port), err, errlen) < 0) {
		conn_close(c);
		return NULL;
	}
	if ((c->fd = tcp_connect(server, host, port, err, errlen)) < 0) {
		*sys_errno = errno;
		conn_close(c);
		return NULL;
	}
	set_timeouts(c->fd, CONN_CONNECT_TIMEOUT_S);
	return c;
}

/* Write the subject CN of the server's certificate on ssl into buf ("" when none). */
static void server_cert_name(SSL *ssl, char *buf, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);

	buf[0] = '\0';
	if (cert && X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
	                                      (int)len) < 0) {
		buf[0] = '\0';
	}
}

/* Complete TLS on a dialled connection, checking the server names HOST. */
int conn_start_tls(struct conn *c, const struct tls_paths *paths, const char *state_dir,
                   struct conn_tls_info *info, char *err, size_t errlen)
{
	char host[256], port[16];
	int ret;

	memset(info, 0, sizeof(*info));
	if (split_or_say(c->address, host, sizeof(host), port, sizeof(port), err, errlen) < 0) {
		return -1;
	}
	if (setup_tls(c, paths, state_dir, err, errlen) < 0) {
		return -1;
	}
	if (!(c->ssl = SSL_new(c->ctx)) || !SSL_set_fd(c->ssl, c->fd)) {
		snprintf(err, errlen, "cannot set up TLS: out of memory");
		return -1;
	}
	SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (tls_client_expect_host(c->ssl, host) < 0) {
		snprintf(err, errlen, "cannot set up TLS to check the server is %s", host);
		return -1;
	}
	errno = 0;
	ret = SSL_connect(c->ssl);
	if (ret != 1) {
		describe_io_failure(c, ret, CONN_CONNECT_TIMEOUT_S, err, errlen);
		return -1;
	}
	snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(c->ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(c->ssl));
	server_cert_name(c->ssl, info->server_cert, sizeof(info->server_cert));
	info->verified = SSL_get_verify_result(c->ssl) == X509_V_OK;
	set_timeouts(c->fd, CONN_REPLY_TIMEOUT_S);
	return 0;
}

/* Say Hello on a connection that has completed TLS. */
int conn_hello(struct conn *c, char *err, size_t errlen, int *status)
{
	enum conn_failure failure = CONN_UNREACHED;
	int rc = say_hello(c, err, errlen, &failure);

	*status = failure == CONN_REFUSED ? c->refusal : -1;
	return rc;
}

/* Say whether the connection failed because the network's CRL revokes the hub. */
int conn_hub_revoked(const struct conn *c)
{
	return c != NULL && c->hub_revoked;
}

/* Describe the CRL checked against the hub, or "" when none is known. */
void conn_crl_describe(const struct conn *c, char *buf, size_t len, int *stale)
{
	char when[16];

	crl_keep_describe(c->keep, buf, len);
	*stale = crl_keep_is_stale(c->keep, when, sizeof(when));
}

/* Return the limits the server announced in its Hello reply. */
const Refex__Limits *conn_limits(const struct conn *c)
{
	return c->hello && c->hello->hello ? c->hello->hello->limits : NULL;
}
