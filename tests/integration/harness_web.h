/* The harness's HTTPS side: refexd's [web] door called with curl, as a partner would. */
#ifndef REFEX_HARNESS_WEB_H
#define REFEX_HARNESS_WEB_H

#include <jansson.h>

#include "harness.h"

/* What the HTTPS door answered. */
struct web_reply {
	int status;    /* HTTP status; 0 when no answer came (refused, closed, curl failed) */
	char *headers; /* the status line and header lines, as sent */
	char *body;    /* the body, NUL-terminated */
	json_t *json;  /* the body as JSON, or NULL */
	char *err;     /* what curl said on stderr */
};

/* Call the net's HTTPS door with curl as the holder of certificate prefix (NULL: present none):
 * method, path, body (NULL: none; "@FILE": the file's bytes; sent as Content-Type:
 * application/json unless headers name another) and headers ("Name: value", NULL-terminated;
 * NULL: none). Fills *w (free it with web_reply_free);
 * returns w->status. */
int web_call(struct web_reply *w, const struct net *n, const char *prefix, const char *method,
             const char *path, const char *body, const char *const *headers);

/* POST body to /api/v1/op as prefix. Returns the HTTP status. */
int web_op(struct web_reply *w, const struct net *n, const char *prefix, const char *op,
           const char *body);

/* Return the value of header name in w (case-insensitive; a static buffer), or NULL. */
const char *web_header(const struct web_reply *w, const char *name);

/* Free what web_call filled in. */
void web_reply_free(struct web_reply *w);

/* A housing referral from north-advice to eastside-housing (raw_submit_init's) as the JSON body
 * of POST /api/v1/submit (malloc'd). */
char *web_submit_body(const char *given_name);

/* Open a plain TCP connection to the net's HTTPS door from src, saying nothing (as
 * net_tcp_connect does to the wire door). */
int net_tcp_connect_web(const struct net *n, const char *src);

/* Open a raw TLS connection (harness.h) to the net's HTTPS door as prefix. */
struct raw *raw_connect_web(const struct net *n, const char *prefix);

#endif
