/* The backends a store test runs against (see store_backends.h). */
#include "store_backends.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Remove a SQLite database file and its WAL and shared-memory files. */
void store_backends_sqlite_remove(const char *p)
{
	char f[400];

	unlink(p);
	snprintf(f, sizeof(f), "%s-wal", p);
	unlink(f);
	snprintf(f, sizeof(f), "%s-shm", p);
	unlink(f);
}

static void sqlite_make(const char *dir, char *loc, size_t len)
{
	snprintf(loc, len, "%s/refex.db", dir);
}

/* Connect to database db on the test's PostgreSQL (REFEX_TEST_PG, from tests/pg/with-postgres). */
PGconn *store_backends_pg_connect(const char *db)
{
	const char *server = getenv("REFEX_TEST_PG");
	const char *const keys[] = {"dbname", "dbname", NULL};
	const char *const vals[] = {server, db, NULL};
	PGconn *c;

	cr_assert(server != NULL && *server, "REFEX_TEST_PG: run through tests/pg/with-postgres");
	c = PQconnectdbParams(keys, vals, 1);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

/* Run sql on the test's PostgreSQL (REFEX_TEST_PG, from tests/pg/with-postgres) in database db. */
void store_backends_pg_admin(const char *db, const char *sql)
{
	PGconn *c = store_backends_pg_connect(db);
	PGresult *res;

	res = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

/* A fresh database per test: its URL names the server's socket (REFEX_TEST_PG) and the test's own
 * database. */
static void pg_make(const char *dir, char *loc, size_t len)
{
	char sql[128], name[64];
	const char *server = getenv("REFEX_TEST_PG"), *q;

	(void)dir;
	snprintf(name, sizeof(name), "refex_test_%ld", (long)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	store_backends_pg_admin("postgres", sql);
	q = strchr(server, '?');
	snprintf(loc, len, "postgresql:///%s%s", name, q ? q : "");
}

/* The database name in a URL pg_make made (postgresql:///NAME?...). */
void store_backends_pg_db_name(const char *loc, char *name, size_t len)
{
	const char *p = loc + strlen("postgresql:///");

	snprintf(name, len, "%.*s", (int)strcspn(p, "?"), p);
}

static void pg_drop(const char *loc)
{
	char sql[128], name[64];

	store_backends_pg_db_name(loc, name, sizeof(name));
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", name);
	store_backends_pg_admin("postgres", sql);
}

/* A second backend adds a row here and a registration of its tests with REFEX_STORE_BACKEND set
 * (tests/unit/CMakeLists.txt). */
static const struct store_backend_fixture backends[] = {
    {"sqlite", sqlite_make, store_backends_sqlite_remove},
    {"postgresql", pg_make, pg_drop},
};

/* Return the backend REFEX_STORE_BACKEND names. */
const struct store_backend_fixture *store_backend_fixture(void)
{
	const char *want = getenv("REFEX_STORE_BACKEND");

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i].name, want && *want ? want : "sqlite") == 0) {
			return &backends[i];
		}
	}
	cr_assert_fail("REFEX_STORE_BACKEND=%s: no such backend in this suite", want);
	return NULL;
}
