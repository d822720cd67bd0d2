/* A blocking TLS connection to refexd that says Hello and then makes requests. */
#ifndef REFEX_CONN_H
#define REFEX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "refex.pb-c.h"
#include "tls.h"

#define CONN_CONNECT_TIMEOUT_S 10 /* to open the TCP connection and finish TLS */
#define CONN_REPLY_TIMEOUT_S   60 /* to wait for any reply once connected */

/* What refex says, and exits 3 after, when the network's CRL revokes the hub's certificate. */
#define CONN_HUB_REVOKED                                                                           \
	"the hub's certificate has been revoked: do not send anything; tell your partnership "     \
	"admin"

struct conn;

/* Who the server says we are, from its HelloReply. */
struct conn_peer {
	const char *agency;
	const char *holder;
	const char *agency_name;
	const char *server;
};

/* Why conn_open failed. */
enum conn_failure {
	CONN_UNREACHED = 0, /* no connection, or it was closed or timed out: a retry may work */
	CONN_REFUSED,       /* the server answered Hello with an error */
	CONN_BAD_SETUP,     /* our own address or TLS files are unusable */
	CONN_TLS_FAILED, /* TLS failed (a certificate refused or not trusted), or the certificate's
	                    agency is not a partner of the hub: a retry fails too */
};

/*
 * Connect to server ("HOST:PORT", "[v6]:PORT"), complete TLS with the files in
 * paths, check the server's certificate names HOST and is not revoked, and say
 * Hello. The newest CRL from the network's CA seen so far (kept in state_dir,
 * NULL: none; paths->crl, a CRL the partner pins, or NULL) refuses a revoked hub
 * in the handshake; a newer one in the Hello reply is kept and checked before
 * this returns. Returns the connection, or NULL with a plain-words reason in err
 * and *why set (CONN_TLS_FAILED and conn_hub_revoked for a revoked hub).
 */
struct conn *conn_open(const char *server, const struct tls_paths *paths, const char *state_dir,
                       char *err, size_t errlen, enum conn_failure *why);

/* Return who the server says we are. */
struct conn_peer conn_peer(const struct conn *c);

/*
 * Send req with the next request id and wait for the response with that id,
 * skipping any events pushed meanwhile. A frame error answer (id 0) counts
 * as the response too. Returns 0 with *resp set (free it with
 * refex__response__free_unpacked(resp, NULL)); -1 with a plain-words reason
 * in err when the connection failed (it is then unusable); -2 with a reason
 * when req is over the server's frame limit and was not sent.
 */
int conn_call(struct conn *c, Refex__Request *req, Refex__Response **resp, char *err,
              size_t errlen);

/* Send req with the next request id (set in req->id) without waiting for the response. Returns
 * 0; -1 with a plain-words reason in err when the connection failed; -2 when req is over the
 * server's frame limit and was not sent. */
int conn_send(struct conn *c, Refex__Request *req, char *err, size_t errlen);

/*
 * Wait up to timeout_ms for the next ServerMessage (a Response or a pushed Event), or until
 * wake_fd (-1: none) is readable or a signal arrives. Returns 1 with *sm set (free it with
 * refex__server_message__free_unpacked(sm, NULL)); 0 when nothing came (timeout, wake_fd,
 * signal); -1 with a plain-words reason in err when the connection failed.
 */
int conn_wait(struct conn *c, int timeout_ms, int wake_fd, Refex__ServerMessage **sm, char *err,
              size_t errlen);

/* After conn_call, conn_send or conn_wait failed: say whether the network failed (closed,
 * reset, timed out: a retry may work) rather than TLS (an alert, a refused certificate). */
int conn_failed_in_network(const struct conn *c);

/* Return the server's address as the user gave it ("HOST:PORT"). */
const char *conn_address(const struct conn *c);

/* Return the forms digest the hub sent in its Hello reply (it changes whenever the hub's forms
 * do), or NULL from a hub that sends none. */
const char *conn_forms_digest(const struct conn *c);

/* Write the SHA-256 fingerprint of the hub's certificate as hex (65 bytes with the NUL) to
 * buf: who the hub is, for what refex caches about it. Returns 0, or -1. */
int conn_hub_fingerprint(const struct conn *c, char *buf, size_t len);

/* Close the connection cleanly (TLS close_notify) and free it. NULL is fine. */
void conn_close(struct conn *c);

/* Split "HOST:PORT" or "[HOST]:PORT" into host and port. Returns 0 or -1. */
int conn_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen);

/* conn_open in steps, for refex doctor, which reports on each. */

/* What the TLS handshake settled, from conn_start_tls. */
struct conn_tls_info {
	char version[16];      /* e.g. "TLSv1.3" */
	char cipher[64];       /* e.g. "TLS_AES_256_GCM_SHA384" */
	char server_cert[128]; /* the server certificate's commonName */
	int verified;          /* the server's certificate verified for the host dialled */
};

/* Resolve the host of server ("HOST:PORT") and list its addresses, comma-separated, in
 * addrs. Returns 0, or -1 with a plain-words reason in err. */
int conn_resolve(const char *server, char *addrs, size_t addrlen, char *err, size_t errlen);

/* Open the TCP connection to server and no more. Returns the connection (go on with
 * conn_start_tls; conn_close it either way), or NULL with a plain-words reason in err and
 * the socket error in *sys_errno (e.g. ECONNREFUSED; 0 when the address was the problem). */
struct conn *conn_dial(const char *server, char *err, size_t errlen, int *sys_errno);

/* Build the TLS context from paths and complete the handshake on c, checking the server's
 * certificate names HOST and is not revoked (as conn_open, with state_dir), and fill info.
 * Returns 0, or -1 with a plain-words reason in err.
 * With TLS 1.3 the server judges our certificate after this: see conn_hello. */
int conn_start_tls(struct conn *c, const struct tls_paths *paths, const char *state_dir,
                   struct conn_tls_info *info, char *err, size_t errlen);

/* Say Hello on c after conn_start_tls. Returns 0 (conn_peer and conn_limits then say what
 * the server answered), or -1 with a plain-words reason in err and *status set to the
 * server's REFEX__STATUS_CODE__* when it answered with an error, else -1 (the connection
 * failed: e.g. the server refused our certificate). */
int conn_hello(struct conn *c, char *err, size_t errlen, int *status);

/* Say whether c failed because the network's CRL revokes the hub's certificate (NULL: no). */
int conn_hub_revoked(const struct conn *c);

/* Describe the CRL c checks the hub against ("number N, next update YYYY-MM-DD"; "" when
 * none is known) into buf, and set *stale when it is past its next update. */
void conn_crl_describe(const struct conn *c, char *buf, size_t len, int *stale);

/* Return the limits the server announced in its Hello reply, or NULL. */
const Refex__Limits *conn_limits(const struct conn *c);

#endif
