/*
 * The backends a store test runs against (tests/unit/test_store.c, test_store_report.c):
 * REFEX_STORE_BACKEND names one (default sqlite; tests/unit/CMakeLists.txt registers a test
 * again with postgresql, on a server of its own from tests/pg/with-postgres). make gives a
 * fresh, empty database's location (what store_open takes) for one test in its directory dir,
 * drop removes it after.
 */
#ifndef REFEX_TEST_STORE_BACKENDS_H
#define REFEX_TEST_STORE_BACKENDS_H

#include <libpq-fe.h>
#include <stddef.h>

struct store_backend_fixture {
	const char *name;
	void (*make)(const char *dir, char *loc, size_t len);
	void (*drop)(const char *loc);
};

/* Return the backend REFEX_STORE_BACKEND names; fails the test if there is none such. */
const struct store_backend_fixture *store_backend_fixture(void);

/* Remove a SQLite database file and its WAL and shared-memory files. */
void store_backends_sqlite_remove(const char *path);

/* Connect to database db on the test's PostgreSQL (REFEX_TEST_PG); fails the test if it cannot. */
PGconn *store_backends_pg_connect(const char *db);

/* Run sql on the test's PostgreSQL (REFEX_TEST_PG) in database db. */
void store_backends_pg_admin(const char *db, const char *sql);

/* The database name in a URL the PostgreSQL fixture made (postgresql:///NAME?...). */
void store_backends_pg_db_name(const char *loc, char *name, size_t len);

#endif
