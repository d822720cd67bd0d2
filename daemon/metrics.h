/*
 * refexd's own counters for the operator's monitoring (Prometheus text format),
 * kept for the whole process like the log. Every function is called on the
 * loop thread except metrics_commit_seconds and metrics_now, which the storage
 * thread calls too.
 */
#ifndef REFEX_METRICS_H
#define REFEX_METRICS_H

#include <event2/buffer.h>

#include "refex.pb-c.h"

/* Handshake failure reasons, as label values (short, stable, no spaces). */
#define METRICS_HS_NO_CERTIFICATE "no_certificate" /* the client sent none */
#define METRICS_HS_UNTRUSTED      "untrusted"      /* not issued by the network's CA */
#define METRICS_HS_REVOKED        "revoked"
#define METRICS_HS_EXPIRED        "expired"
#define METRICS_HS_NOT_YET_VALID  "not_yet_valid"
#define METRICS_HS_CRL            "crl" /* our CRL expired or missing: every partner refused */
#define METRICS_HS_BAD_IDENTITY   "bad_identity" /* verified, but names no valid agency/holder */
#define METRICS_HS_NOT_PARTNER    "not_partner"  /* agency not in the partnership */
#define METRICS_HS_TIMEOUT        "timeout"
#define METRICS_HS_PROTOCOL       "protocol"     /* not TLS 1.3, not TLS, no shared cipher */
#define METRICS_HS_PEER_REFUSED   "peer_refused" /* the client refused our certificate */
#define METRICS_HS_CLOSED         "closed"       /* the client hung up mid-handshake */
#define METRICS_HS_SHED           "shed"         /* made room for a newer one (max_handshakes...) */
#define METRICS_HS_OTHER          "other"

/* Count a refused or abandoned handshake under one of the METRICS_HS_* reasons. */
void metrics_handshake_failed(const char *reason);

/* Count an answered request of type (the handler's name) by its status code. */
void metrics_request(const char *type, Refex__StatusCode code);

/* Record how long one group commit took (any thread). */
void metrics_commit_seconds(double seconds);

/* Return a monotonic clock in seconds, for timing what metrics_commit_seconds records. */
double metrics_now(void);

/* Append the HELP, TYPE and sample lines of these counters to out. Returns 0 or -1. */
int metrics_write(struct evbuffer *out);

/* Forget every count (for tests). */
void metrics_reset(void);

#endif
