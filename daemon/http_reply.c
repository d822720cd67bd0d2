/* Answers on evhttp shared by the metrics endpoint and the HTTPS door. */
#include "http_reply.h"

#include <event2/buffer.h>
#include <string.h>

/* Answer req with HTTP code and text as content type. */
void http_reply_text(struct evhttp_request *req, int code, const char *type, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	if (text == NULL || body == NULL || evbuffer_add(body, text, strlen(text)) < 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	} else {
		evhttp_send_reply(req, code, NULL, body);
	}
	if (body != NULL) {
		evbuffer_free(body);
	}
}
