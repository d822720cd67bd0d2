/* A blocking TLS connection to refexd that says Hello and then makes requests. */
#ifndef REFEX_CONN_H
#define REFEX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "refex.pb-c.h"
#include "tls.h"

#define CONN_CONNECT_TIMEOUT_S 10 /* to open the TCP connection and finish TLS */
#define CONN_REPLY_TIMEOUT_S   60 /* to wait for any reply once connected */

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
	CONN_UNREACHED = 0, /* no connection, TLS failed, or the server went away */
	CONN_REFUSED,       /* the server answered Hello with an error */
	CONN_BAD_SETUP,     /* our own address or TLS files are unusable */
};

/*
 * Connect to server ("HOST:PORT", "[v6]:PORT"), complete TLS with the files in
 * paths, check the server's certificate names HOST, and say Hello. Returns the
 * connection, or NULL with a plain-words reason in err and *why set.
 */
struct conn *conn_open(const char *server, const struct tls_paths *paths, char *err, size_t errlen,
                       enum conn_failure *why);

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

/* Close the connection cleanly (TLS close_notify) and free it. NULL is fine. */
void conn_close(struct conn *c);

/* Split "HOST:PORT" or "[HOST]:PORT" into host and port. Returns 0 or -1. */
int conn_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen);

#endif
