/*
 * The integration suite on PostgreSQL: with REFEX_STORE_BACKEND=postgresql (and
 * a server from tests/pg/with-postgres, REFEX_TEST_PG), each net gets a
 * database of its own, which its hubs are configured with and which goes with
 * the net. The server can be stopped and started under a running hub.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_private.h"

/* Say whether the suite runs its hubs on PostgreSQL. */
bool net_on_postgresql(void)
{
	const char *b = getenv("REFEX_STORE_BACKEND");

	return b != NULL && strcmp(b, "postgresql") == 0;
}

/* Run sql (with text as $1 unless NULL) on a connection of its own to the database conninfo
 * names; fail the test unless it answers want. The caller clears the result. */
static PGresult *pg_run_once(const char *conninfo, const char *sql, const char *text,
                             ExecStatusType want)
{
	const char *params[] = {text};
	PGconn *c = PQconnectdb(conninfo);
	PGresult *res;

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	res = text ? PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
	cr_assert_eq(PQresultStatus(res), want, "%s: %s", sql, PQerrorMessage(c));
	PQfinish(c);
	return res;
}

/* Run sql in the test server's maintenance database. */
static void pg_admin(const char *sql)
{
	const char *server = getenv("REFEX_TEST_PG");

	cr_assert(server != NULL && *server, "REFEX_TEST_PG: run through tests/pg/with-postgres");
	PQclear(pg_run_once(server, sql, NULL, PGRES_COMMAND_OK));
}

/* Make the net's own database and put its URL in n->database. */
void net_pg_database_new(struct net *n)
{
	const char *server = getenv("REFEX_TEST_PG"), *q;
	char sql[128];

	snprintf(n->db_name, sizeof(n->db_name), "refex_it_%ld", (long)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", n->db_name);
	pg_admin(sql);
	q = server ? strchr(server, '?') : NULL;
	snprintf(n->database, sizeof(n->database), "postgresql:///%s%s", n->db_name, q ? q : "");
}

/* Drop the net's database (its hubs are stopped). */
void net_pg_database_drop(struct net *n)
{
	char sql[128];

	if (n->db_name[0] == '\0') {
		return;
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", n->db_name);
	pg_admin(sql);
	n->db_name[0] = '\0';
}

/* What a test that stops or signals the server is told on ctest's shared server. */
static const char pg_own_server_only[] =
    "REFEX_TEST_PG_CTL: a test that stops or signals the server needs one of its own: OWN_SERVER "
    "in refex_add_postgres_test (tests/CMakeLists.txt), or tests/pg/with-postgres";

/* Run the test server's control script (tests/pg/with-postgres) with action: stop or start. */
static void pg_ctl(const char *action)
{
	char *ctl = getenv("REFEX_TEST_PG_CTL");
	char *const argv[] = {ctl, (char *)action, NULL};
	struct run_result r;

	cr_assert(ctl != NULL, "%s", pg_own_server_only);
	run(&r, argv, NULL);
	cr_assert_eq(r.status, 0, "pg_ctl %s: %s%s", action, r.out, r.err);
	run_result_free(&r);
}

/* Stop the test's PostgreSQL server (fast: connections are cut) and wait until it is down. */
void net_pg_server_stop(void)
{
	pg_ctl("stop");
}

/* Start the test's PostgreSQL server again and wait until it takes connections. */
void net_pg_server_start(void)
{
	pg_ctl("start");
}

/* Read the pid of the test server's postmaster: the first line of postmaster.pid in the data
 * directory, beside the socket directory REFEX_TEST_PG names (tests/pg/with-postgres). */
static pid_t pg_postmaster(void)
{
	const char *server = getenv("REFEX_TEST_PG"), *host;
	char path[512];
	long pid = 0;
	FILE *f;

	host = server ? strstr(server, "host=") : NULL;
	cr_assert(host != NULL, "REFEX_TEST_PG: run through tests/pg/with-postgres");
	host += strlen("host=");
	snprintf(path, sizeof(path), "%.*s/data/postmaster.pid", (int)strcspn(host, "&"), host);
	cr_assert((f = fopen(path, "r")) != NULL, "%s: %s", path, strerror(errno));
	cr_assert_eq(fscanf(f, "%ld", &pid), 1, "%s: no pid", path);
	fclose(f);
	return (pid_t)pid;
}

/* Send the test server's postmaster sig. */
void net_pg_server_signal(int sig)
{
	pid_t pid;

	cr_assert(getenv("REFEX_TEST_PG_CTL") != NULL, "%s", pg_own_server_only);
	pid = pg_postmaster();
	cr_assert_eq(kill(pid, sig), 0, "kill %ld: %s", (long)pid, strerror(errno));
}

/* End the server processes serving n's database (their titles name it): its hubs' connections
 * are cut, as when the server restarts. */
void net_pg_cut_connections(const struct net *n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], title[512];
	size_t len;
	FILE *f;

	cr_assert(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (strspn(e->d_name, "0123456789") != strlen(e->d_name)) {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if ((f = fopen(path, "r")) == NULL) {
			continue;
		}
		len = fread(title, 1, sizeof(title) - 1, f);
		fclose(f);
		title[len] = '\0';
		if (strncmp(title, "postgres: ", 10) == 0 && strstr(title, n->db_name) != NULL) {
			kill((pid_t)atol(e->d_name), SIGTERM);
		}
	}
	closedir(d);
}

/* Run sql (commands, no rows) on n's database, as someone with access to it might. */
void net_pg_exec(const struct net *n, const char *sql)
{
	PQclear(pg_run_once(n->database, sql, NULL, PGRES_COMMAND_OK));
}

/* Run sql, a query of one boolean, on n's database: whether it says true. */
bool net_pg_query_true(const struct net *n, const char *sql)
{
	PGresult *res = pg_run_once(n->database, sql, NULL, PGRES_TUPLES_OK);
	bool yes = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return yes;
}

/* Run sql with text as $1 on n's database: whether it returned a row. */
static bool pg_any_row(const struct net *n, const char *sql, const char *text)
{
	PGresult *res = pg_run_once(n->database, sql, text, PGRES_TUPLES_OK);
	bool any = PQntuples(res) > 0;

	PQclear(res);
	return any;
}

/* Say whether any row version in the pages of n's tables that hold client details holds text:
 * heap_page_items gives each item's bytes until a VACUUM has removed it. */
bool net_pg_pages_hold(const struct net *n, const char *text)
{
	static const char sql[] =
	    "SELECT 1 FROM unnest(ARRAY['referrals', 'referral_data', 'history', 'clients',"
	    " 'client_versions', 'consents', 'report_reasons']) AS t(rel),"
	    " LATERAL generate_series(0, (pg_relation_size(rel) / "
	    "current_setting('block_size')::bigint)::int - 1) AS b(blk),"
	    " LATERAL heap_page_items(get_raw_page(rel, blk)) AS i"
	    " WHERE i.t_data IS NOT NULL AND position(convert_to($1, 'UTF8') in i.t_data) > 0"
	    " LIMIT 1";

	net_pg_exec(
	    n, "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pageinspect");
	return pg_any_row(n, sql, text);
}

/* Say whether n's database still holds text in a live row of a client record. */
bool net_pg_holds(const struct net *n, const char *text)
{
	static const char sql[] =
	    "SELECT 1 FROM clients WHERE strpos(name, $1) > 0"
	    " UNION ALL SELECT 1 FROM referrals WHERE strpos(client_name, $1) > 0"
	    " UNION ALL SELECT 1 FROM consents WHERE strpos(purpose, $1) > 0"
	    " OR strpos(reason, $1) > 0 OR strpos(withdraw_reason, $1) > 0"
	    " UNION ALL SELECT 1 FROM client_versions"
	    " WHERE position(convert_to($1, 'UTF8') in record) > 0"
	    " UNION ALL SELECT 1 FROM referral_data WHERE position(convert_to($1, 'UTF8') in "
	    "client) > 0"
	    " OR position(convert_to($1, 'UTF8') in consent) > 0";

	return pg_any_row(n, sql, text);
}
