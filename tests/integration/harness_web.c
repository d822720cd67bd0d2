/* The harness's HTTPS side: curl against refexd's [web] door, and the port it logged. */
#include "harness_web.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pbjson.h"

#define WEB_ARGS_MAX 40

/* Split curl's -i output (headers, blank line, body, then "\n" and the status -w wrote). */
static void web_split(struct web_reply *w, const char *out)
{
	const char *last = strrchr(out, '\n'), *sep = strstr(out, "\r\n\r\n");
	size_t end = last != NULL ? (size_t)(last - out) : strlen(out);

	w->status = last != NULL ? atoi(last + 1) : 0;
	if (sep == NULL || (size_t)(sep - out) > end) {
		w->headers = strdup("");
		w->body = strndup(out, end);
	} else {
		w->headers = strndup(out, (size_t)(sep - out) + 2);
		w->body = strndup(sep + 4, end - (size_t)(sep + 4 - out));
	}
	cr_assert(w->headers != NULL && w->body != NULL);
	w->json = json_loads(w->body, JSON_DECODE_ANY, NULL);
}

static bool web_has_type(const char *const *headers)
{
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (strncasecmp(headers[i], "Content-Type:", 13) == 0) {
			return true;
		}
	}
	return false;
}

/* Call the HTTPS door with curl. */
int web_call(struct web_reply *w, const struct net *n, const char *prefix, const char *method,
             const char *path, const char *body, const char *const *headers)
{
	char url[256], cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];
	const char *argv[WEB_ARGS_MAX];
	struct run_result r;
	int port = net_logged_port(n, "web-listening"), a = 0;

	cr_assert_neq(port, 0, "refexd logged no msg=web-listening port=N");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
	argv[a++] = CURL_PATH;
	argv[a++] = "-sS";
	argv[a++] = "-i";
	argv[a++] = "--http1.1";
	argv[a++] = "--max-time";
	argv[a++] = "30";
	argv[a++] = "--cacert";
	argv[a++] = n->ca;
	argv[a++] = "-w";
	argv[a++] = "\n%{http_code}";
	argv[a++] = "-X";
	argv[a++] = method;
	if (prefix != NULL) {
		snprintf(cert, sizeof(cert), "%s.crt", prefix);
		snprintf(key, sizeof(key), "%s.key", prefix);
		argv[a++] = "--cert";
		argv[a++] = cert;
		argv[a++] = "--key";
		argv[a++] = key;
	}
	if (body != NULL && !web_has_type(headers)) {
		argv[a++] = "-H";
		argv[a++] = "Content-Type: application/json";
	}
	if (body != NULL) {
		argv[a++] = "--data-binary";
		argv[a++] = body;
	}
	for (size_t i = 0; headers != NULL && headers[i] != NULL && a + 3 < WEB_ARGS_MAX; i++) {
		argv[a++] = "-H";
		argv[a++] = headers[i];
	}
	argv[a++] = url;
	argv[a] = NULL;
	run(&r, (char *const *)argv, NULL);
	web_split(w, r.out);
	w->err = r.err;
	r.err = NULL;
	run_result_free(&r);
	return w->status;
}

/* POST body to /api/v1/op as prefix. */
int web_op(struct web_reply *w, const struct net *n, const char *prefix, const char *op,
           const char *body)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/%s", op);
	return web_call(w, n, prefix, "POST", path, body, NULL);
}

/* Return the value of header name in w, or NULL. */
const char *web_header(const struct web_reply *w, const char *name)
{
	static char value[1024];
	size_t n = strlen(name);

	for (const char *p = w->headers; p != NULL && *p != '\0'; p = strstr(p, "\r\n")) {
		p += p[0] == '\r' ? 2 : 0;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1 + strspn(p + n + 1, " ");

			snprintf(value, sizeof(value), "%.*s", (int)strcspn(v, "\r\n"), v);
			return value;
		}
	}
	return NULL;
}

/* Free what web_call filled in. */
void web_reply_free(struct web_reply *w)
{
	free(w->headers);
	free(w->body);
	free(w->err);
	json_decref(w->json);
	*w = (struct web_reply){0};
}

/* A housing referral as the JSON body of submit. */
char *web_submit_body(const char *given_name)
{
	struct raw_submit s;
	json_t *json;
	char *text;

	raw_submit_init(&s, 1, given_name);
	json = pbjson_encode(&s.sub.base);
	text = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	cr_assert_not_null(text);
	return text;
}

/* The net n with its HTTPS door's port for the wire's. */
static struct net web_side(const struct net *n)
{
	struct net web = *n;

	web.port = net_logged_port(n, "web-listening");
	cr_assert_neq(web.port, 0, "refexd logged no msg=web-listening port=N");
	return web;
}

/* Open a plain TCP connection to the net's HTTPS door from src. */
int net_tcp_connect_web(const struct net *n, const char *src)
{
	struct net web = web_side(n);

	return net_tcp_connect(&web, src);
}

/* Open a raw TLS connection to the net's HTTPS door as prefix. */
struct raw *raw_connect_web(const struct net *n, const char *prefix)
{
	struct net web = web_side(n);

	return raw_connect(&web, prefix, NULL);
}
