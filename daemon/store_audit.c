/*
 * The audit trail: every change of a referral and every full read of one is
 * appended to the audit table by the storage thread, each entry carrying
 * SHA-256(previous entry's hash || this entry), so that changing, removing or
 * reordering any row breaks the chain from there on (store_audit_verify).
 *
 * Changes are audited in the same transaction as the change itself; reads are
 * queued without a callback and commit with the next group commit (the reply
 * does not wait for it: a crash in that window can lose a read's entry).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_private.h"

#define AUDIT_HASH_LEN STORE_AUDIT_HASH_LEN

/* Write v in decimal followed by ':' at p; returns the length. */
static size_t put_num(char *p, long long v)
{
	char rev[24];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	size_t n = 0, len = 0;

	do {
		rev[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0) {
		p[len++] = '-';
	}
	while (n > 0) {
		p[len++] = rev[--n];
	}
	p[len++] = ':';
	return len;
}

/* Hash one entry onto prev: every field length-prefixed, so no two entries hash alike. ctx is
 * reused from entry to entry and md fetched once: a fetch per entry cost more than the hash. */
int store_audit_hash(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t prev[AUDIT_HASH_LEN],
                     int64_t seq, const struct store_audit *a, uint8_t out[AUDIT_HASH_LEN])
{
	const char *fields[] = {a->agency, a->holder, a->action, a->record};
	char num[64];
	size_t n = put_num(num, (long long)seq);
	int ok;

	n += put_num(num + n, (long long)a->at_ms);
	ok = EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
	     EVP_DigestUpdate(ctx, prev, AUDIT_HASH_LEN) == 1 && EVP_DigestUpdate(ctx, num, n) == 1;
	for (size_t i = 0; ok && i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t len = strlen(fields[i]);

		ok = EVP_DigestUpdate(ctx, num, put_num(num, (long long)len)) == 1 &&
		     EVP_DigestUpdate(ctx, fields[i], len) == 1;
	}
	return ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1 ? 0 : -1;
}

/* Make a hashing context and fetch SHA-256 into *ctx and *md; -1 if either failed. */
int store_audit_hasher_new(EVP_MD_CTX **ctx, EVP_MD **md)
{
	*ctx = EVP_MD_CTX_new();
	*md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return *ctx != NULL && *md != NULL ? 0 : -1;
}

/* Free what audit_hasher_new made (NULLs are fine). */
static void audit_hasher_free(EVP_MD_CTX *ctx, EVP_MD *md)
{
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
}

/* Free the writer's audit hashing context (store close). */
void store_audit_close(struct store *st)
{
	audit_hasher_free(st->sq->audit_ctx, st->sq->audit_md);
	st->sq->audit_ctx = NULL;
	st->sq->audit_md = NULL;
}

/* Load the chain's last seq and hash into st (writer); -1 on a read error. */
static int audit_load_tail(struct store *st)
{
	sqlite3_stmt *s = st->sq->w[W_AUDIT_LAST];
	int rc = sqlite3_step(s);

	st->sq->audit_seq = 0;
	memset(st->sq->audit_last, 0, sizeof(st->sq->audit_last));
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN) {
		st->sq->audit_seq = sqlite3_column_int64(s, 0);
		memcpy(st->sq->audit_last, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
	}
	store_stmt_end(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		return -1;
	}
	st->sq->audit_known = true;
	return 0;
}

/* Append an entry to the chain inside the writer's open transaction. */
enum store_status store_audit_append(struct store *st, const struct store_audit *a)
{
	sqlite3_stmt *s = st->sq->w[W_AUDIT_ADD];
	uint8_t hash[AUDIT_HASH_LEN];
	sqlite3_int64 seq;
	int rc;

	if (!st->sq->audit_known && audit_load_tail(st) < 0) {
		return STORE_UNAVAILABLE;
	}
	if (st->sq->audit_md == NULL) {
		store_audit_close(st);
		if (store_audit_hasher_new(&st->sq->audit_ctx, &st->sq->audit_md) < 0) {
			return STORE_UNAVAILABLE;
		}
	}
	seq = st->sq->audit_seq + 1;
	if (store_audit_hash(st->sq->audit_ctx, st->sq->audit_md, st->sq->audit_last, seq, a,
	                     hash) < 0) {
		return STORE_UNAVAILABLE;
	}
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int64(s, 2, a->at_ms);
	rc = store_bind_text(s, 3, a->agency) | store_bind_text(s, 4, a->holder) |
	     store_bind_text(s, 5, a->action) | store_bind_text(s, 6, a->record) |
	     sqlite3_bind_blob(s, 7, hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	st->sq->audit_seq = seq;
	memcpy(st->sq->audit_last, hash, AUDIT_HASH_LEN);
	return STORE_OK;
}

/* Forget the chain's tail: a rollback has undone entries it counted. */
void store_audit_forget(struct store *st)
{
	st->sq->audit_known = false;
}

static Refex__AuditEntry *entry_from_row(sqlite3_stmt *s)
{
	Refex__AuditEntry *e = malloc(sizeof(*e));
	char **fields[4];

	if (e == NULL) {
		return NULL;
	}
	refex__audit_entry__init(e);
	e->has_seq = e->has_at_ms = 1;
	e->seq = (uint64_t)sqlite3_column_int64(s, 0);
	e->at_ms = sqlite3_column_int64(s, 1);
	fields[0] = &e->agency;
	fields[1] = &e->holder;
	fields[2] = &e->action;
	fields[3] = &e->record;
	for (int i = 0; i < 4; i++) {
		const unsigned char *t = sqlite3_column_text(s, 2 + i);

		if ((*fields[i] = strdup(t ? (const char *)t : "")) == NULL) {
			protobuf_c_message_free_unpacked(&e->base, NULL);
			return NULL;
		}
	}
	return e;
}

/* Read the audit entries of one referral, oldest first (at most max). */
enum store_status store_sqlite_audit_list(struct store *st, const char *record, size_t max,
                                          Refex__AuditEntry ***out, size_t *n)
{
	sqlite3_stmt *s = st->sq->r[R_AUDIT_LIST];
	bool oom = false;
	int rc = SQLITE_DONE;

	*n = 0;
	if ((*out = calloc(max ? max : 1, sizeof(**out))) == NULL) {
		return STORE_UNAVAILABLE;
	}
	store_bind_text(s, 1, record);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (!oom && *n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (((*out)[*n] = entry_from_row(s)) == NULL) {
			oom = true;
		} else {
			(*n)++;
		}
	}
	if (!oom && *n == max) {
		rc = SQLITE_DONE;
	}
	store_stmt_end(s);
	if (oom || rc != SQLITE_DONE) {
		store_audit_free(*out, *n);
		*out = NULL;
		*n = 0;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Free what store_audit_list() returned. */
void store_audit_free(Refex__AuditEntry **entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		protobuf_c_message_free_unpacked(&entries[i]->base, NULL);
	}
	free(entries);
}

/* Start checking a chain from its first entry. -1: SHA-256 cannot be set up. */
int store_audit_check_init(struct store_audit_check *c)
{
	memset(c, 0, sizeof(*c));
	return store_audit_hasher_new(&c->ctx, &c->md);
}

/* Check the chain's next entry (numbered got, with fields a and stored hash of len bytes);
 * false when it breaks the chain (c->first_bad says where). */
bool store_audit_check_row(struct store_audit_check *c, int64_t got, const struct store_audit *a,
                           const uint8_t *hash, size_t len)
{
	uint8_t want[AUDIT_HASH_LEN];
	int64_t seq = ++c->seq;

	if (got != seq || a->agency == NULL || a->holder == NULL || a->action == NULL ||
	    a->record == NULL || hash == NULL || len != AUDIT_HASH_LEN ||
	    store_audit_hash(c->ctx, c->md, c->prev, seq, a, want) < 0 ||
	    memcmp(want, hash, AUDIT_HASH_LEN) != 0) {
		c->first_bad = (uint64_t)seq;
		return false;
	}
	memcpy(c->prev, want, AUDIT_HASH_LEN);
	c->entries++;
	return true;
}

/* Free what store_audit_check_init made. */
void store_audit_check_free(struct store_audit_check *c)
{
	audit_hasher_free(c->ctx, c->md);
	c->ctx = NULL;
	c->md = NULL;
}

/* Check the entry the statement s is on. */
static bool audit_row_ok(struct store_audit_check *c, sqlite3_stmt *s)
{
	struct store_audit a = {
	    .at_ms = sqlite3_column_int64(s, 1),
	    .agency = (const char *)sqlite3_column_text(s, 2),
	    .holder = (const char *)sqlite3_column_text(s, 3),
	    .action = (const char *)sqlite3_column_text(s, 4),
	    .record = (const char *)sqlite3_column_text(s, 5),
	};

	return store_audit_check_row(c, sqlite3_column_int64(s, 0), &a, sqlite3_column_blob(s, 6),
	                             (size_t)sqlite3_column_bytes(s, 6));
}

/* Verify the whole chain of the database at path (read-only; a URL: store_pg_audit.c). */
int store_audit_verify(const char *path, uint64_t *entries, uint64_t *first_bad, char *err,
                       size_t errlen)
{
	struct store_audit_check c;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc;

	if (store_location_is_url(path)) {
		return store_pg_audit_verify(path, entries, first_bad, err, errlen);
	}
	*entries = *first_bad = 0;
	if (store_audit_check_init(&c) < 0) {
		store_audit_check_free(&c);
		snprintf(err, errlen, "cannot set up SHA-256");
		return -1;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_prepare_v2(db,
		                        "SELECT seq, at_ms, agency, holder, action, record, hash"
		                        " FROM audit ORDER BY seq",
		                        -1, &s, NULL);
	}
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!audit_row_ok(&c, s)) {
			rc = SQLITE_DONE;
			break;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	}
	*entries = c.entries;
	*first_bad = c.first_bad;
	sqlite3_finalize(s);
	sqlite3_close(db);
	store_audit_check_free(&c);
	return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : -1;
}
