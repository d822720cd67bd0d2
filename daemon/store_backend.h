/*
 * What the commit queue (store_queue.c) needs of a database: the backend
 * interface. The queue knows no SQL: it takes write jobs on the loop thread,
 * runs every waiting job in one transaction on the storage thread, and hands
 * completions back to the loop. A backend provides, all on the storage thread
 * unless said otherwise:
 *
 *  - open and close: connect (creating or migrating the schema to the version
 *    this refexd knows, refusing a newer one), prepare its statements, and
 *    keep its state in the store (st->sq for SQLite);
 *  - the transaction: begin, commit, rollback, and a savepoint per job for a
 *    batch that is redone job by job after one job failed;
 *  - the write of each job kind, inside the open transaction, each failing
 *    "cleanly" (nothing of it written) or setting *partial. Insert, change,
 *    sweep and forms are written once for every backend (store_jobs.c: which
 *    steps, in which order, what a failure leaves to undo), over the
 *    backend's statements (`stmts`: struct store_backend_stmts, store_jobs.h),
 *    where all the SQL stays; audit, purge and client are the backend's own
 *    (the `write` ops);
 *  - scrub, after a commit that erased personal data (SQLite: empty the WAL);
 *  - errstr: a generic text for a failure code, never what was written.
 *
 * The durability rule every backend keeps: commit returns 0 only once the
 * transaction is durable (SQLite: WAL with synchronous=FULL; PostgreSQL:
 * synchronous_commit = on), because the queue then tells the request it is
 * stored. Events, idempotency keys, audit entries and counters are written in
 * the same transaction as the change they belong to. A failed commit leaves
 * nothing half done and the connection usable for the next batch.
 *
 *  - the reads (the `read` ops), never waiting for the storage thread's open
 *    transaction (SQLite: a second, read-only connection in WAL mode).
 *    store_read.c dispatches store.h's reads to them. A backend whose reads
 *    are local and fast (SQLite) runs them on the loop thread; one whose reads
 *    cross a network (PostgreSQL) provides a reader: a view of the store with
 *    a connection of its own, which the commit queue's reader thread reads on
 *    (store_read_async), so that a slow or unreachable database never holds
 *    the loop.
 *
 * The offline tools' reads of a database (store_audit_verify,
 * store_report_read_file, store_form_versions_at) take a SQLite file or a
 * PostgreSQL URL, read-only, with a connection of their own.
 */
#ifndef REFEX_STORE_BACKEND_H
#define REFEX_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_clients.h"
#include "store_report.h"

struct store_backend_stmts;
struct store_client_op;

/* The writes of the job kinds a backend writes whole (store_queue.c's job kinds); insert, change,
 * sweep and forms are store_jobs.c's steps over the backend's statements (stmts). */
struct store_backend_writes {
	enum store_status (*audit)(struct store *st, const struct store_audit *a);
	enum store_status (*purge)(struct store *st, int64_t before, int64_t clients_since,
	                           int64_t now, struct store_result *res, bool *partial);
	enum store_status (*client)(struct store *st, struct store_client_op *op, bool *partial);
};

/* The reads of store.h, store_clients.h and store_report.h, on the loop thread or (a backend with
 * a reader) the reader thread; each must not wait for the storage thread's transaction
 * (store_read.c dispatches to them). */
struct store_backend_reads {
	enum store_status (*get)(struct store *st, const char *id, Refex__Referral **out);
	enum store_status (*list)(struct store *st, const struct store_query *q,
	                          struct store_page *page);
	enum store_status (*events)(struct store *st, const char *agency, uint64_t after,
	                            size_t max, Refex__Event ***out, size_t *n);
	enum store_status (*event_range)(struct store *st, const char *agency, uint64_t *oldest,
	                                 uint64_t *newest);
	enum store_status (*sender_of)(struct store *st, const char *id, char *sender, size_t len);
	enum store_status (*next_due)(struct store *st, int64_t *due);
	enum store_status (*idem_find)(struct store *st, const char *agency,
	                               const struct store_idem *idem, char *first);
	enum store_status (*count_states)(struct store *st, uint64_t counts[STORE_STATES],
	                                  uint64_t *overdue, int64_t now);
	enum store_status (*purge_due)(struct store *st, int64_t before, int64_t clients_since,
	                               bool *due);
	enum store_status (*audit_list)(struct store *st, const char *record, size_t max,
	                                Refex__AuditEntry ***out, size_t *n);
	enum store_status (*form_versions)(struct store *st, struct store_form_version **out,
	                                   size_t *n);
	enum store_status (*client_get)(struct store *st, const char *id, const char *agency,
	                                Refex__StoredClient **out, bool *owner);
	enum store_status (*client_list)(struct store *st, const char *agency, const char *search,
	                                 size_t max, Refex__StoredClient ***out, size_t *n);
	enum store_status (*consent_list)(struct store *st, const char *id, const char *agency,
	                                  bool owner, Refex__ConsentRecord ***out, size_t *n);
	enum store_status (*report_read)(struct store *st, const struct store_report_query *q,
	                                 struct store_report_data *out);
};

/* A backend's reader (NULL ops: its reads run on the loop thread, store_read_async runs them
 * at once). */
struct store_backend_reader {
	/* On the loop thread, after open: make *view, a store the reader thread passes to the read
	 * ops, with a connection of its own to the database at path. 0 / -1 with err. */
	int (*open)(struct store *st, const char *path, struct store **view, char *err,
	            size_t errlen);
	/* Close what open made (NULL is fine), once the reader thread has stopped. */
	void (*close)(struct store *view);
	/* On the reader thread: say whether view's connection is lost (reads then fail at once
	 * until reconnect returns 0). */
	bool (*lost)(struct store *view);
	/* On the reader thread: advance view's reconnection by one short step (so that the reads
	 * queued meanwhile are answered), starting it now or once a backoff has passed: 0
	 * connected, 1 under way, -1 not (yet). */
	int (*reconnect)(struct store *view, bool now);
};

struct store_backend {
	const char *name; /* for logs: "sqlite", "postgresql" */
	/* On the loop thread, before the storage thread starts / after it stopped. close must
	 * accept a half-opened store. */
	int (*open)(struct store *st, const char *path, char *err, size_t errlen);
	void (*close)(struct store *st);
	/* Start a batch's transaction. 0 / -1. */
	int (*begin)(struct store *st);
	/* Write what the batch accumulated (counters) and commit, durably. 0 / -1. */
	int (*commit)(struct store *st);
	/* Roll back what is still open after a failure and forget what the batch cached; return the
	 * failure's code (taken before the rollback), for errstr. */
	int (*rollback)(struct store *st);
	/* Open a savepoint for one job. 0 / -1. */
	int (*save)(struct store *st);
	/* A job failed: forget what it cached and, when partial, roll back to its savepoint. 0 / -1
	 * (-1: the batch can no longer commit). */
	int (*undo)(struct store *st, bool partial);
	/* Release the job's savepoint. -1 if the transaction is gone (the batch cannot commit). */
	int (*release)(struct store *st);
	/* Say whether the database has ended the open transaction on its own (I/O error, disk
	 * full). */
	bool (*aborted)(struct store *st);
	/* After a commit that erased personal data: make sure no copy is left in a log. */
	void (*scrub)(struct store *st);
	/* A generic text for a failure code from rollback (never the data). */
	const char *(*errstr)(int code);
	/* On the loop thread, at close, while the storage and reader threads have not ended: start
	 * (on) or end (off) cancelling, from a thread of the backend's own, what their connections
	 * run. False: on, it could not start; off, it still waits for a server that does not
	 * answer, and what it uses must stay. NULL: nothing to cancel (SQLite). */
	bool (*cancel)(struct store *st, bool on);
	/* The statements under the insert, change, sweep and forms jobs (store_jobs.h). */
	const struct store_backend_stmts *stmts;
	struct store_backend_writes write;
	struct store_backend_reads read;
	struct store_backend_reader reader;
};

/* The embedded default: one SQLite file (store_sqlite.c, store_writer.c). */
extern const struct store_backend store_sqlite_backend;

/* A PostgreSQL database, named by a postgresql:// URL (store_pg.c). */
extern const struct store_backend store_pg_backend;

#endif
