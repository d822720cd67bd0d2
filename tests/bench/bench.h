/* refex-bench: a load generator for refexd, in the spirit of pgbench and redis-benchmark. */
#ifndef REFEX_BENCH_H
#define REFEX_BENCH_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

enum bench_op { OP_SUBMIT, OP_INBOX, OP_SHOW, OP_MIXED, OP_HELLO };

#define BENCH_STATUS_MAX 8 /* refex StatusCode values 0..7 */

struct bench_opts {
	const char *server; /* HOST:PORT */
	const char *cert, *key, *ca;
	const char *to;        /* recipient agency for submit */
	const char *client_id; /* submit refers to this stored client; NULL: a new one each time */
	const char *https;     /* speak HTTPS: POST size bytes to this path; NULL: refex */
	int connections;
	double duration; /* seconds; 0 when counting requests */
	long requests;   /* total; 0 when timed */
	enum bench_op op;
	size_t size; /* bytes of form data per submit */
	int pipeline;
	bool new_connection;
	bool idle; /* open the connections, say Hello, hold them for the duration */
	bool json;
	bool api;         /* speak the HTTPS door's JSON API, keep-alive, instead of refex */
	bool same_client; /* every new client has the same name (before issue 19's step 5) */
};

struct bench {
	struct bench_opts o;
	struct event_base *base;
	SSL_CTX *ctx;
	char host[256];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint8_t *form_data; /* the packed form every submission carries */
	size_t form_len;
	uint64_t submitted; /* submissions so far: names the next one's client */
	uint8_t *scratch;   /* the request being written */
	size_t scratch_cap;
	uint8_t *inbox_body;
	size_t inbox_len;
	char *http_request; /* the whole POST, headers and body, for --https */
	size_t http_len;
	char **ids; /* referral ids for show */
	size_t n_ids;
	bool keep_ids; /* decode whole responses to keep the ids of submitted referrals */
	/* results */
	struct timespec start, end;
	long sent, done;
	long by_status[BENCH_STATUS_MAX];
	long transport_errors;
	long connections_made;
	int opened;       /* connections started so far */
	uint32_t *lat_us; /* one latency per answered request, microseconds */
	size_t n_lat, cap_lat;
	int live; /* connections still running */
	bool stopping;
};

/* Pack the form data every submission carries, and the inbox listing. Returns 0 or -1. */
int bench_bodies_build(struct bench *b);

/* Return submission seq as a packed Request without its id (in b's scratch buffer), or NULL:
 * a new client named for seq unless --client-id or --same-client. */
const uint8_t *bench_submit_packed(struct bench *b, uint64_t seq, size_t *len);

/* Return the API request for op (submit: submission seq) as a whole HTTP/1.1 request in b's
 * scratch buffer, or NULL. */
const char *bench_api_request(struct bench *b, enum bench_op op, uint64_t seq, size_t *len);

/* Open every connection and run the load until the duration or request count is reached. */
int bench_run(struct bench *b);

/* Record one answered request. */
void bench_record(struct bench *b, int status, uint64_t us);

/* Say whether another request may be started. */
bool bench_may_send(struct bench *b);

/* Return microseconds since t. */
uint64_t bench_since_us(const struct timespec *t);

/* Fill a store file with referrals across agencies, fast, for listing benchmarks. */
int bench_load(const char *db, long referrals, int agencies, size_t size);

/* Time the outcomes report of agency (NULL: the network) over the last days in the store file
 * db, as the hub makes it (refexd must not be running on it). */
int bench_report(const char *db, const char *agency, long days);

#endif
