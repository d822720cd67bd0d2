/*
 * The writer's WAL-coalescing VFS (daemon/store_walbuf.c): what a writer
 * commits through it is what a second connection (SQLite's own VFS) reads,
 * for commits small and large, when a transaction outgrows the page cache so
 * SQLite writes frames early, reads them back and writes them again, when such
 * a transaction rolls back and another writer commits next, and on storage
 * without powersafe overwrite (where SQLite pads frames past the sync).
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_walbuf.h"

static char dir[] = "/tmp/refex-test-walbuf-XXXXXX";
static char path[sizeof(dir) + 16];
static sqlite3 *wdb, *rdb;

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql,
	             msg ? msg : "?");
}

static void open_writer_at(const char *name)
{
	const char *vfs = store_walbuf_vfs();

	cr_assert_not_null(vfs, "the coalescing VFS did not register");
	cr_assert_eq(sqlite3_open_v2(name, &wdb,
	                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
	                             vfs),
	             SQLITE_OK);
	exec(wdb, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	          " PRAGMA wal_autocheckpoint = 0");
}

static void open_writer(void)
{
	open_writer_at(path);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	open_writer();
	exec(wdb, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL, sum INTEGER NOT NULL);"
	          " CREATE INDEX t_sum ON t (sum)");
	cr_assert_eq(sqlite3_open_v2(path, &rdb, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
}

static void teardown(void)
{
	char cmd[sizeof(dir) + 16];

	sqlite3_close(rdb);
	sqlite3_close(wdb);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Insert n rows of size bytes each through db in one transaction, ending it with `end`
 * (COMMIT or ROLLBACK); return the sum of their bytes. */
static long long insert_rows_via(sqlite3 *db, int n, int size, unsigned *seed, const char *end)
{
	sqlite3_stmt *s = NULL;
	unsigned char *v = malloc((size_t)size);
	long long total = 0;

	cr_assert_not_null(v);
	cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO t (v, sum) VALUES (?1, ?2)", -1, &s, NULL),
	             SQLITE_OK);
	exec(db, "BEGIN IMMEDIATE");
	for (int i = 0; i < n; i++) {
		long long sum = 0;

		for (int j = 0; j < size; j++) {
			v[j] = (unsigned char)rand_r(seed);
			sum += v[j];
		}
		sqlite3_bind_blob(s, 1, v, size, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, sum);
		cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(db));
		sqlite3_reset(s);
		total += sum;
	}
	sqlite3_finalize(s);
	exec(db, end);
	free(v);
	return total;
}

static long long insert_rows(int n, int size, unsigned *seed)
{
	return insert_rows_via(wdb, n, size, seed, "COMMIT");
}

/* What the reader sees: rows, the sum of their sum column, and rows whose bytes disagree. */
static void read_back(sqlite3 *db, long long *rows, long long *total, long long *bad)
{
	sqlite3_stmt *s = NULL;

	*rows = *total = *bad = 0;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT v, sum FROM t", -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_blob(s, 0);
		long long sum = 0;

		for (int j = 0; j < sqlite3_column_bytes(s, 0); j++) {
			sum += v[j];
		}
		*bad += sum != sqlite3_column_int64(s, 1);
		*total += sum;
		(*rows)++;
	}
	sqlite3_finalize(s);
}

static void expect_reader_sees(long long rows, long long total)
{
	long long got_rows, got_total, bad;

	read_back(rdb, &got_rows, &got_total, &bad);
	cr_assert_eq(bad, 0, "%lld rows read back with other bytes than were written", bad);
	cr_assert_eq(got_rows, rows, "the reader saw %lld rows, %lld were committed", got_rows,
	             rows);
	cr_assert_eq(got_total, total);
}

static void expect_intact(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;

	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sqlite3_errmsg(db));
	cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
}

TestSuite(store_walbuf, .init = setup, .fini = teardown);

Test(store_walbuf, every_commit_is_readable_by_another_connection)
{
	/* From one small row to 8 MiB in one commit: past the 124 KiB pieces and the 4 MiB cap. */
	const int sizes[][2] = {{1, 10}, {3, 900}, {40, 4000}, {200, 3000}, {2100, 4000}, {5, 100}};
	unsigned seed = 7;
	long long rows = 0, total = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		total += insert_rows(sizes[i][0], sizes[i][1], &seed);
		rows += sizes[i][0];
		expect_reader_sees(rows, total);
	}
}

Test(store_walbuf, a_transaction_larger_than_the_page_cache_commits_whole)
{
	unsigned seed = 11;
	long long total;

	/* A tiny cache makes SQLite spill: frames written before the commit, read back and
	 * written again, out of order. */
	exec(wdb, "PRAGMA cache_size = 8");
	total = insert_rows(1500, 1500, &seed);
	total += insert_rows(1500, 700, &seed);
	expect_reader_sees(3000, total);
	exec(wdb, "UPDATE t SET v = zeroblob(length(v)), sum = 0 WHERE k % 3 = 0");
	exec(wdb, "DELETE FROM t WHERE k % 3 = 1");
	{
		long long rows, after, bad;

		read_back(rdb, &rows, &after, &bad);
		cr_assert_eq(bad, 0);
		cr_assert_eq(rows, 2000);
	}
}

Test(store_walbuf, the_store_reopens_intact_after_a_checkpoint_and_truncate)
{
	unsigned seed = 3;
	long long total = insert_rows(500, 2000, &seed);

	cr_assert_eq(sqlite3_wal_checkpoint_v2(wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
	             SQLITE_OK);
	total += insert_rows(10, 2000, &seed);
	sqlite3_close(wdb);
	open_writer();
	total += insert_rows(10, 2000, &seed);
	expect_reader_sees(520, total);
	expect_intact(wdb);
}

/* Roll back a transaction that spilled frames, let connection other commit, then commit here:
 * everyone reads every committed row, and the file is intact. */
static void rollback_then_other_writer(sqlite3 *other)
{
	unsigned seed = 5;
	long long total = insert_rows(10, 1000, &seed);

	/* The WAL starts over: the next frames, ours or another writer's, go at its top. */
	cr_assert_eq(sqlite3_wal_checkpoint_v2(wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
	             SQLITE_OK);
	exec(wdb, "PRAGMA cache_size = 10");
	insert_rows_via(wdb, 300, 3000, &seed, "ROLLBACK"); /* spilled frames, then undone */
	exec(wdb, "PRAGMA cache_size = 2000");
	exec(other, "PRAGMA synchronous = FULL");
	total += insert_rows_via(other, 200, 2000, &seed, "COMMIT");
	total += insert_rows(1, 5, &seed);
	sqlite3_close(other);
	expect_reader_sees(211, total);
	expect_intact(rdb);
}

Test(store_walbuf, a_rolled_back_spill_never_lands_on_another_writers_frames)
{
	sqlite3 *other = NULL;

	/* Through SQLite's own VFS, as another process would. */
	cr_assert_eq(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	rollback_then_other_writer(other);
}

Test(store_walbuf, two_connections_through_it_on_one_database_stay_apart)
{
	sqlite3 *other = NULL;

	/* Both databases open before either opens its WAL: a WAL must not take the other's. */
	sqlite3_close(wdb);
	cr_assert_eq(sqlite3_open_v2(path, &wdb, SQLITE_OPEN_READWRITE, store_walbuf_vfs()),
	             SQLITE_OK);
	cr_assert_eq(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, store_walbuf_vfs()),
	             SQLITE_OK);
	exec(wdb, "PRAGMA synchronous = FULL");
	rollback_then_other_writer(other);
}

Test(store_walbuf, storage_without_powersafe_overwrite_is_written_through)
{
	char uri[sizeof(path) + 32];
	unsigned seed = 9;
	long long total = 0;

	sqlite3_close(rdb);
	sqlite3_close(wdb);
	snprintf(uri, sizeof(uri), "file:%s?psow=0", path);
	open_writer_at(uri);
	cr_assert_eq(sqlite3_open_v2(path, &rdb, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	for (int i = 0; i < 40; i++) {
		total += insert_rows(1, 300 + 37 * i, &seed);
		expect_reader_sees(i + 1, total);
	}
	expect_intact(rdb);
}
