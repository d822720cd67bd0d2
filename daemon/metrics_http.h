/* The metrics endpoint: GET /metrics in Prometheus text format on a loopback-only port. */
#ifndef REFEX_METRICS_HTTP_H
#define REFEX_METRICS_HTTP_H

#include <stddef.h>

#include "hub.h"

struct metrics_http;

/* Serve metrics on hub's loop at the [metrics] listen address and log the bound port.
 * Returns NULL with a reason in err. */
struct metrics_http *metrics_http_start(struct hub *hub, char *err, size_t errlen);

/* Stop serving and close every metrics connection. NULL is fine. */
void metrics_http_free(struct metrics_http *mh);

#endif
