/* A TCP proxy in front of refexd that can cut connections: a network that fails on cue. */
#ifndef REFEX_HARNESS_PROXY_H
#define REFEX_HARNESS_PROXY_H

#include "harness.h"

struct proxy;

/* Listen on 127.0.0.1 (any port) and forward each connection to the net's refexd, in a
 * thread of its own. Fails the current test if it cannot. */
struct proxy *proxy_start(const struct net *n);

/* Return "127.0.0.1:PORT", the address to give refex --server (owned by p). */
const char *proxy_address(const struct proxy *p);

/*
 * Arm the proxy: the first time refexd answers anything after its log has gained a line
 * containing log_text (counted from now), close that connection in both directions
 * instead of forwarding the answer. refexd writes its request log line before the reply
 * goes out, so "type=submit" cuts the connection after the submission was committed and
 * before its reply reaches the client.
 */
void proxy_cut_after_log(struct proxy *p, const char *log_text);

/* Close every connection now, in both directions. */
void proxy_cut_all(struct proxy *p);

/* How many connections the proxy has accepted, and how many it has cut. */
int proxy_accepted(struct proxy *p);
int proxy_cuts(struct proxy *p);

/* Stop the thread, close everything and free. NULL is fine. */
void proxy_free(struct proxy *p);

#endif
