/*
 * The integration test harness: a throwaway partnership (CA, server and partner
 * certificates made with refex-ca, a refexd config), refexd started and
 * stopped for real, the refex client run as a subprocess, and a raw TLS client
 * for protocol-level tests. Loopback only, no fixed ports, no fixed sleeps.
 */
#ifndef REFEX_HARNESS_H
#define REFEX_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "refex.pb-c.h"

#define NET_PATH_MAX 512 /* room for the net directory and a file name below it */

/* Deadlines, generous so a loaded CI machine does not fail a correct build. */
#define HARNESS_START_TIMEOUT_MS 20000 /* refexd to log msg=listening */
#define HARNESS_RUN_TIMEOUT_MS   60000 /* a refex or refex-ca run */
#define HARNESS_READ_TIMEOUT_MS  10000 /* a raw client waiting for a frame */

/* The partners every net is configured with unless a test writes its own. */
#define NET_DEFAULT_AGENCIES                                                                       \
	"[agency north-advice]\n"                                                                  \
	"name = North Advice Centre\n"                                                             \
	"accepts = food_support, debt_advice\n"                                                    \
	"\n"                                                                                       \
	"[agency eastside-housing]\n"                                                              \
	"name = Eastside Housing Trust\n"                                                          \
	"accepts = housing_support\n"                                                              \
	"\n"                                                                                       \
	"[agency third-party]\n"                                                                   \
	"name = Third Party Food Bank\n"                                                           \
	"accepts = food_support\n"

/* One throwaway partnership and, while started, its refexd. */
struct net {
	char dir[64];                  /* the mkdtemp directory; everything lives below it */
	char ca_dir[NET_PATH_MAX];     /* refex-ca --dir */
	char ca[NET_PATH_MAX];         /* the CA certificate partners trust */
	char config[NET_PATH_MAX];     /* refexd's config file */
	char log[NET_PATH_MAX];        /* refexd's stderr, appended across restarts */
	char empty[NET_PATH_MAX];      /* an empty refex config, so the user's is never read */
	pid_t pid;                     /* refexd, or 0 when not running */
	int port;                      /* where refexd listens, once started */
	char issued[16][NET_PATH_MAX]; /* certificate prefixes handed out by net_issue */
	size_t n_issued;
	/* [server] database: "refex.db", or on PostgreSQL (net_on_postgresql) the URL of the
	 * net's own database, db_name, made by net_new and dropped by net_free. */
	char database[NET_PATH_MAX + 64];
	char db_name[64];
	bool second; /* made by net_second: shares the directory and database of another net */
};

/* What a finished program said and how it ended. */
struct run_result {
	int status; /* exit code; 128 + signal when killed; -1 when it could not run */
	char *out;  /* everything on stdout, NUL-terminated */
	char *err;  /* everything on stderr, NUL-terminated */
};

/* Say whether the suite runs its hubs on PostgreSQL (REFEX_STORE_BACKEND=postgresql, under
 * tests/pg/with-postgres; harness_pg.c). */
bool net_on_postgresql(void);

/* Make n's own PostgreSQL database and name it in n->database (net_new does). */
void net_pg_database_new(struct net *n);

/* Drop n's PostgreSQL database, if it has one (net_free does). */
void net_pg_database_drop(struct net *n);

/* Stop the test's PostgreSQL server (fast: every connection is cut) and wait until it is down. */
void net_pg_server_stop(void);

/* Start the test's PostgreSQL server again and wait until it takes connections. */
void net_pg_server_start(void);

/* Send the test's PostgreSQL postmaster sig: SIGSTOP makes the server hang for new connections
 * (those open go on), SIGCONT ends that. */
void net_pg_server_signal(int sig);

/* End the server processes serving n's database: its hubs' connections are cut (with the
 * postmaster stopped, they cannot reconnect until it goes on). */
void net_pg_cut_connections(const struct net *n);

/* Say whether n's PostgreSQL database still holds text in a live row of a client record (its
 * name, versions, consents, or a referral's copy): what an erasure must remove. */
bool net_pg_holds(const struct net *n, const char *text);

/* Run sql (commands that return no rows) on n's PostgreSQL database; fails the test if it
 * fails. */
void net_pg_exec(const struct net *n, const char *sql);

/* Run sql, a query of one boolean, on n's PostgreSQL database: whether it says true. */
bool net_pg_query_true(const struct net *n, const char *sql);

/* Say whether any row version in the pages of n's PostgreSQL tables that hold client details
 * (dead ones a VACUUM has not removed too) holds text; read with pageinspect. */
bool net_pg_pages_hold(const struct net *n, const char *text);

/* Make a net: directory, CA, server certificate for 127.0.0.1 and localhost, the example
 * forms (proto/forms) in DIR/forms (the default [forms] dir beside the config), and a
 * config with NET_DEFAULT_AGENCIES. Fails the current test on any problem. */
struct net *net_new(void);

/* Make a second hub of n: a net sharing n's directory, certificates (those issued so far),
 * config and database, with its own log (refexd-N.log) and, once net_start'ed, its own refexd
 * and port; every helper taking a net works on it. Free it (net_free, net_teardown) before n;
 * that leaves the directory and the database to n. Fails the current test on any problem. */
struct net *net_second(const struct net *n);

/* Start a second hub of n's (net_second; n is started) and wait until both have their database
 * open (msg=started). Fails the current test if it does not start. */
struct net *net_start_second(struct net *n);

/* Kill n's refexd with SIGKILL (a hub that dies) and wait for it. */
void net_kill(struct net *n);

/* Issue a partner certificate for agency and holder; returns the path prefix P
 * (P.crt, P.key), owned by the net. Fails the current test on any problem. */
const char *net_issue(struct net *n, const char *agency, const char *holder);

/* Rewrite refexd's config: the [server] section, then extra (agency sections,
 * [limits], ...); NULL extra means NET_DEFAULT_AGENCIES. Returns 0 or -1. */
int net_write_config(struct net *n, const char *extra);

/* Start refexd on the net's config and wait for it to log msg=listening port=N.
 * Returns 0 with n->port set, or -1 (what refexd logged is in n->log). */
int net_start(struct net *n);

/* Start refexd as net_start does; fails the current test, showing refexd's log, if it
 * does not start. */
void net_must_start(struct net *n);

/* Stop refexd with SIGTERM and wait for it; returns its exit status as run() does. */
int net_stop(struct net *n);

/* Return refexd's log so far (malloc'd, NUL-terminated; "" if none). */
char *net_read_log(const struct net *n);

/* Stop any refexd and remove the directory (kept when REFEX_IT_KEEP is set, for
 * looking at a failure). NULL is fine. */
void net_free(struct net *n);

/* In a test: stop refexd and expect exit status 0 (a crash or leak on the way out fails). */
void net_expect_clean_stop(struct net *n);

/* For a suite's .fini: stop refexd, complaining on stderr if it did not exit 0 (Criterion
 * ignores assertions in .fini; a sanitizer report still fails ctest), then net_free. */
void net_teardown(struct net *n);

/* Run argv[0] with argv, capturing stdout and stderr; env entries ("NAME=value",
 * NULL-terminated, may be NULL) are added to the environment. Returns r->status. */
int run(struct run_result *r, char *const argv[], char *const env[]);

/* Run refex against the net as the holder of certificate prefix (from
 * net_issue; NULL: no certificate flags), with the NULL-terminated command
 * arguments after it, in the net directory. Returns r->status. */
int run_refex(struct run_result *r, const struct net *n, const char *prefix, ...)
    __attribute__((sentinel));

/* Run refex-ca with the NULL-terminated arguments. Returns r->status. */
int run_refex_ca(struct run_result *r, ...) __attribute__((sentinel));

/* Length of a referral id as refex submit prints it. */
#define REFEX_ID_LEN 16

/* Submit a housing_support referral from prefix to eastside-housing with the client and
 * consent fixtures and the form answers in data; fails the test unless refex exits 0 and
 * prints an id, which is copied to id. */
void submit_housing(const struct net *n, const char *prefix, const char *data,
                    char id[REFEX_ID_LEN + 1]);

/* Expect refex BOX --json (box: inbox or sent) run as prefix to list no referrals. */
void expect_box_empty(const struct net *n, const char *prefix, const char *box);

/* Wait (bounded by HARNESS_START_TIMEOUT_MS) until refexd's log contains text; the log is
 * the daemon's only answer to a signal. Returns whether it appeared. */
bool net_log_wait(const struct net *n, const char *text);

/* Wait as net_log_wait does until refexd's log contains text at least count times. */
bool net_log_wait_count(const struct net *n, const char *text, int count);

/* Return the port refexd last logged in a "msg=WHAT ... port=N" line (what: "web-listening",
 * "metrics-listening"), or 0 if it logged none. */
int net_logged_port(const struct net *n, const char *what);

/* Count the times text occurs in refexd's log so far. */
int net_log_count(const struct net *n, const char *text);

/* Make a second, unrelated CA in the net directory and issue a north-advice certificate from
 * it; returns the path prefix (a static buffer). Fails the current test on any problem. */
const char *net_foreign_certificate(const struct net *n);
/* Issue a north-advice partner certificate valid from from_days to to_days around now
 * (negative: in the past), signed with the net's CA key, as the files name.crt and name.key
 * in the net directory; returns the prefix (a static buffer). */
const char *net_issue_dated(const struct net *net, const char *name, long from_days, long to_days);
/* Sign a CRL of the net's CA with no revoked entries, CRL number number, its next update
 * next_days from now (negative: past), with the CA key or, when forged, with another key
 * under the CA's name; write it as PEM to name in the net directory and return its path (a
 * static buffer). */
const char *net_sign_crl(const struct net *net, const char *name, long number, long next_days,
                         bool forged);
/* Issue a partner certificate valid for a year whose subject is rdns, pairs of entry type and
 * value ending in NULL ({"O", "a", "O", "b", "CN", "c", NULL}), signed with the net's CA key,
 * as name.crt and name.key in the net directory; returns the prefix (a static buffer). */
const char *net_issue_subject(const struct net *net, const char *name, const char *const *rdns);
/* Replace the net's CRL with an empty one, signed with the CA key, whose next update is
 * seconds from now: a CRL a running refexd takes, then sees expire. */
void net_write_crl_expiring(const struct net *net, long seconds);
/* Return the serial (malloc'd) of holder's newest valid certificate, from refex-ca list --json;
 * fails the current test if there is none. */
char *net_serial_of(const struct net *n, const char *holder);

/* Free what a run captured. */
void run_result_free(struct run_result *r);

/* Parse r->out as JSON, or NULL. */
json_t *run_json(const struct run_result *r);

/* Return r->out without its trailing newline (modifies r->out). */
const char *run_line(struct run_result *r);

/* Path of a fixture file under tests/integration/data. */
#define FIXTURE(name) REFEX_IT_DATA "/" name

/* Write text to dir/name; returns the path (malloc'd) or NULL. */
char *net_write_file(const struct net *n, const char *name, const char *text);

/* Copy text into out (len bytes) with every occurrence of id replaced by "<id>": to compare
 * what is said about a real id with what is said about one never issued. */
void text_without_id(const char *text, const char *id, char *out, size_t len);

/* Return the whole file at path, NUL-terminated, and its length in *len (len may be NULL); NULL if
 * unreadable (malloc'd). */
char *harness_read_file(const char *path, size_t *len);

/* Say whether the file name in the net directory (or at name, when absolute) holds text
 * anywhere (a missing file holds nothing): for canaries that must not linger in the database
 * or its WAL. */
bool net_file_holds(const struct net *n, const char *name, const char *text);

/* Open a plain TCP connection to the net's refexd (127.0.0.1) from the loopback address src
 * (NULL: 127.0.0.1), saying nothing. Returns the fd, blocking, or -1 with errno set; fails no
 * test, so a thread of the test may call it. */
int net_tcp_connect(const struct net *n, const char *src);

/* Say whether the peer has closed fd, a connection that sends nothing (EOF or reset), within
 * timeout_ms (0: without waiting). */
bool net_tcp_closed(int fd, int timeout_ms);

/* A raw TLS client speaking frames to refexd. */
struct raw;

/*
 * Connect to the net's refexd and finish the TLS handshake, checking the
 * server against ca (NULL: the net's CA) and 127.0.0.1. prefix names the
 * client certificate (NULL: present none). Returns NULL when the connection
 * or the handshake failed. With TLS 1.3 a server that refuses our certificate
 * says so only after the client's side of the handshake is done: see
 * raw_wait_closed.
 */
struct raw *raw_connect(const struct net *n, const char *prefix, const char *ca);

/*
 * Connect as raw_connect does (our certificate: prefix, the server checked against the net's
 * CA) but hold back the last record of our side of the handshake, Finished: the server has
 * our certificate and its proof, and waits for the end. Returns NULL when the connection or
 * the handshake so far failed.
 */
struct raw *raw_connect_holding_finished(const struct net *n, const char *prefix);

/* Send the Finished raw_connect_holding_finished held back (the handshake ends on the server's
 * side). Returns 0 or -1. */
int raw_release_finished(struct raw *c);

/* Send bytes as they are. Returns 0 or -1. */
int raw_send_bytes(struct raw *c, const void *buf, size_t len);

/* Send bytes as they are, giving up after timeout_ms (a peer that stopped reading). Returns 0
 * or -1; after a timeout the connection is good only for raw_free. */
int raw_send_within(struct raw *c, const void *buf, size_t len, int timeout_ms);

/* Send req as one frame. Returns 0 or -1. */
int raw_send_request(struct raw *c, const Refex__Request *req);

/* Read one ServerMessage, or NULL on timeout, close or a frame that does not parse.
 * Free with refex__server_message__free_unpacked(m, NULL). */
Refex__ServerMessage *raw_read_message(struct raw *c, int timeout_ms);

/* Send req and wait for the Response with its id (or id 0: a frame error),
 * skipping events. Returns the ServerMessage holding it, or NULL. */
Refex__ServerMessage *raw_call(struct raw *c, const Refex__Request *req);

/* Ask for the forms (request id); return how many came back with status OK, or -1. */
int raw_list_forms(struct raw *c, uint64_t id);

/* Ask for the caller's sent box (request id, one page of 100); return how many referrals it
 * lists, or -1 when it was refused or no answer came. */
int raw_count_sent(struct raw *c, uint64_t id);

/* Ask for the caller's inbox as raw_count_sent does its sent box. */
int raw_count_inbox(struct raw *c, uint64_t id);
/* Say Hello. Returns 0 when the server answered OK, -1 otherwise. */
int raw_hello(struct raw *c);

/* Drain whatever the server sends until it closes the connection. Returns true
 * when it closed within timeout_ms, false if it was still open then. */
bool raw_wait_closed(struct raw *c, int timeout_ms);

/* Read bytes into buf, appended to the NUL-terminated text already there, until needle appears.
 * Returns false on close, timeout or a full buf. */
bool raw_read_until(struct raw *c, char *buf, size_t cap, const char *needle, int timeout_ms);

/* Say whether the server's close was clean: its TLS close_notify arrived, and not in the
 * middle of a frame (a truncated reply). Meaningful once raw_wait_closed returned true. */
bool raw_closed_cleanly(const struct raw *c);

/* Close (with close_notify if still open) and free. NULL is fine. */
void raw_free(struct raw *c);

/* Watch the agency's events from after since (since < 0: from now). Returns the newest event's
 * seq from the reply, or -1 when the watch was refused. */
long long raw_watch(struct raw *c, long long since);

/* A housing referral from north-advice to eastside-housing as a request, with its storage. */
struct raw_submit {
	Refex__Request req;
	Refex__SubmitReferral sub;
	Refex__ClientRecord client;
	Refex__Consent consent;
	uint8_t data[64];
};

/* Fill s with request id and the client's given name (the family name is fixed). */
void raw_submit_init(struct raw_submit *s, uint64_t id, const char *given_name);

/* Store record as a client of c's agency (request id 60): the answer's status code (-1: none);
 * when it is OK, the new client's id goes to id (REFEX_ID_LEN + 1 bytes). */
int raw_add_client(struct raw *c, Refex__ClientRecord *record, char *id);

#endif
