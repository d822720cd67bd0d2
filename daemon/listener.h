/* The TCP listener: binds the configured address and hands connections to sessions. */
#ifndef REFEX_LISTENER_H
#define REFEX_LISTENER_H

#include "hub.h"

/* Bind hub->cfg's listen address and start accepting; logs the bound port. Returns 0 or -1. */
int listener_start(struct hub *hub, char *err, size_t errlen);

/* Bind host:port (and log it as msg=what with the bound port) for a listener that accepts once
 * it is given a callback. Returns NULL with the reason in err. */
struct evconnlistener *listener_bind(struct hub *hub, const char *host, const char *port,
                                     const char *what, char *err, size_t errlen);

/* Count a connection accepted on l (either door's listener); after a burst of them, stop
 * accepting until the loop has served the connections under way. */
void listener_paced(struct hub *hub, struct evconnlistener *l);

#endif
