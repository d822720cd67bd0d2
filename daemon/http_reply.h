/* Answers on libevent's evhttp that the daemon's HTTP endpoints (metrics, the HTTPS door) share. */
#ifndef REFEX_HTTP_REPLY_H
#define REFEX_HTTP_REPLY_H

#include <event2/http.h>

/* Answer req with HTTP code and text (NULL: out of memory, answered 500) as content type. */
void http_reply_text(struct evhttp_request *req, int code, const char *type, const char *text);

#endif
