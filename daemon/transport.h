/*
 * The TLS transport of a connection: the only daemon code that calls SSL_*.
 * A connection is a libevent OpenSSL bufferevent in accepting mode.
 */
#ifndef REFEX_TRANSPORT_H
#define REFEX_TRANSPORT_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "identity.h"

/* Wrap an accepted socket in a TLS bufferevent that starts the server handshake. */
struct bufferevent *transport_accept(struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd);

/* Read the identity from the verified peer certificate after the handshake. Returns 0 or -1. */
int transport_peer_identity(struct bufferevent *bev, struct identity *id, char *err, size_t errlen);

/* Describe, in plain words, why the TLS layer of bev failed; fill the serial and fingerprint
 * of ids when a certificate was refused (empty otherwise). Returns the reason as a short
 * METRICS_HS_* label. */
const char *transport_describe_error(struct bufferevent *bev, char *buf, size_t len,
                                     struct identity *ids);

/* Verify the peer's certificate again against ctx (a reloaded CA and CRL). Returns 0 if it
 * still passes, -1 with the reason in why. */
int transport_verify_again(struct bufferevent *bev, SSL_CTX *ctx, char *why, size_t len);

/* Judge the peer's certificate by ctx, the trust in force now, if the handshake began under
 * another context (a reload, say a new CRL, came while it was under way: the handshake
 * verified it against the old one). Returns NULL when it passes (or ctx is the one the
 * handshake used), else the METRICS_HS_* label with the reason in why. */
const char *transport_trusted_now(struct bufferevent *bev, SSL_CTX *ctx, char *why, size_t len);

/* Send close_notify (when the handshake finished) and free the bufferevent. A bufferevent
 * without TLS (one end of a pair, an HTTPS request's door to a session) first hands what it
 * holds to its partner and tells it the end came. */
void transport_close(struct bufferevent *bev);

/* State that lives exactly as long as a connection's TLS state (the HTTPS door's, whose
 * connections evhttp owns and frees); on_free runs when that state goes. */
struct transport_owner {
	void (*on_free)(struct transport_owner *o);
};

/* Tie o to bev's TLS state. Returns 0 or -1. */
int transport_set_owner(struct bufferevent *bev, struct transport_owner *o);

/* Return what transport_set_owner tied to bev, or NULL. */
struct transport_owner *transport_owner(struct bufferevent *bev);

#endif
