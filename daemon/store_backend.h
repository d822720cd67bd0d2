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
 *  - the write of each job kind, inside the open transaction (the `write`
 *    ops), each failing "cleanly" (nothing of it written) or setting *partial;
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
 * Reads (store_reader.c, store_clients_read.c) are still SQLite's own, on the
 * loop thread; see docs/STORAGE.md for what is left to put behind this.
 */
#ifndef REFEX_STORE_BACKEND_H
#define REFEX_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_client_op;

/* The writes of each job kind, run inside the open transaction (store_queue.c's job kinds). */
struct store_backend_writes {
	enum store_status (*insert)(struct store *st, const struct store_new_referral *r,
	                            struct store_result *res, bool *partial);
	enum store_status (*change)(struct store *st, const struct store_change *c,
	                            struct store_result *res, bool *partial);
	enum store_status (*sweep)(struct store *st, int64_t now, struct store_result *res,
	                           bool *partial);
	enum store_status (*audit)(struct store *st, const struct store_audit *a);
	enum store_status (*purge)(struct store *st, int64_t before, int64_t clients_since,
	                           int64_t now, struct store_result *res, bool *partial);
	enum store_status (*client)(struct store *st, struct store_client_op *op, bool *partial);
	enum store_status (*forms)(struct store *st, const struct store_forms_change *c,
	                           bool *partial);
};

struct store_backend {
	const char *name; /* for logs: "sqlite" */
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
	struct store_backend_writes write;
};

/* The embedded default: one SQLite file (store_sqlite.c, store_writer.c). */
extern const struct store_backend store_sqlite_backend;

#endif
