/*
 * The HTTPS door ([web] listen): the wire protocol's operations as protobuf's canonical JSON
 * over evhttp on TLS, with the same client certificates, the same trust in force and the same
 * handlers. Each HTTPS connection's requests run in a session of their own (session.h), fed
 * frames through a bufferevent pair: a request is decoded at the door, handled once, encoded at
 * the door.
 */
#ifndef REFEX_WEB_H
#define REFEX_WEB_H

#include <stddef.h>

#include "hub.h"

struct web;

/* Serve HTTPS on hub's loop at hub->cfg's [web] listen address (logs msg=web-listening with
 * the bound port). Returns NULL with the reason in err. */
struct web *web_start(struct hub *hub, char *err, size_t errlen);

/* Apply hub->cfg's limits (a reload's) to the door: largest body, per-byte timeout. NULL is
 * fine. */
void web_apply_limits(struct web *web);

/* Stop serving and close every HTTPS connection. NULL is fine. */
void web_free(struct web *web);

#endif
