/*
 * Client records, their versions and consents: the write side, the same on
 * every backend. Each write is one job of the storage thread (store_queue.c
 * runs it in the batch's transaction and hands it back), audited in that same
 * transaction. What the rules say (who may change a client, which status a
 * refusal gets, what is audited) is decided here; the statements are the
 * backend's (struct store_clients_writes: store_clients_sqlite.c,
 * store_pg_clients.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_clients_backend.h"

/* One queued client write: the request's copy lives in data, right after the struct. */
struct store_client_op {
	struct store_client_write w;
	struct store_client_out out;
	store_client_cb cb;
	void *arg;
	bool erased; /* committed an erasure: the WAL must be truncated */
	char data[];
};

/* ---- pure helpers ---- */

/* Append s to buf (at *used), trimmed and with ASCII letters folded to lower case. */
static void fold_append(char *buf, size_t len, size_t *used, const char *s)
{
	const char *end;

	if (s == NULL) {
		return;
	}
	while (isspace((unsigned char)*s)) {
		s++;
	}
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1])) {
		end--;
	}
	for (; s < end && *used + 1 < len; s++) {
		buf[(*used)++] = (char)tolower((unsigned char)*s);
	}
	buf[*used] = '\0';
}

/* Write the key under which two records of an agency are likely the same client. */
void store_client_dup_key(const Refex__ClientRecord *c, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0) {
		return;
	}
	buf[0] = '\0';
	fold_append(buf, len, &used, c->given_name);
	fold_append(buf, len, &used, "|");
	fold_append(buf, len, &used, c->family_name);
	fold_append(buf, len, &used, "|");
	fold_append(buf, len, &used, c->date_of_birth);
}

/* Write day t (unix seconds, UTC) as YYYY-MM-DD into buf (11 bytes). */
void store_day(int64_t t, char *buf)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 11, "%Y-%m-%d", &tm) != 10) {
		snprintf(buf, 11, "1970-01-01");
	}
}

/* ---- storage thread: the rules, with a backend's statements ---- */

static enum store_status audit(struct store *st, const struct store_client_write *w,
                               const char *action, const char *client_id)
{
	return st->be->write.audit(st, &(struct store_audit){.agency = w->agency,
	                                                     .holder = w->holder,
	                                                     .action = action,
	                                                     .record = client_id,
	                                                     .at_ms = w->at * 1000});
}

/* Tell why a write of agency's client id finds no row of the caller's: NOT_FOUND unless the
 * client is the caller's, CONFLICT if it was erased; else (live, the caller's) STORE_OK with its
 * row id in *cid, for a write that looks the client up first. */
static enum store_status client_missed(struct store *st, const struct store_clients_writes *sql,
                                       const char *id, const char *agency, int64_t *cid)
{
	bool mine = false, erased = false;
	int64_t found = 0;
	enum store_status status = sql->find(st, id, agency, &found, &mine, &erased);

	if (status != STORE_OK) {
		return status;
	}
	if (!mine) {
		return STORE_NOT_FOUND;
	}
	*cid = found;
	return erased ? STORE_CONFLICT : STORE_OK;
}

/* Run the owner's update of w's client: STORE_OK with its row id (and version), or what
 * client_missed says when it changed nothing. */
static enum store_status owned_update(struct store *st, const struct store_clients_writes *sql,
                                      const struct store_client_write *w, int64_t *cid,
                                      uint32_t *version)
{
	enum store_status status;
	bool hit = false;

	if ((status = sql->owned(st, w, &hit, cid, version)) != STORE_OK) {
		return status;
	}
	if (hit) {
		return STORE_OK;
	}
	/* The update's own WHERE rules out a live client of the caller's: never report it done. */
	status = client_missed(st, sql, w->id, w->agency, cid);
	return status == STORE_OK ? STORE_NOT_FOUND : status;
}

/* Insert client w->id (version 1) owned by w->agency; its row id goes to *cid. */
static enum store_status client_insert(struct store *st, const struct store_clients_writes *sql,
                                       const struct store_client_write *w, int64_t *cid,
                                       bool *wrote)
{
	enum store_status status = sql->insert(st, w, cid);

	if (status != STORE_OK) {
		return status;
	}
	*wrote = true;
	return sql->version(st, *cid, 1, w);
}

static enum store_status op_add(struct store *st, const struct store_clients_writes *sql,
                                struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	int64_t cid = 0;
	enum store_status status = client_insert(st, sql, w, &cid, wrote);

	snprintf(op->out.id, sizeof(op->out.id), "%s", w->id);
	op->out.version = 1;
	if (status == STORE_OK && w->dup_key != NULL) {
		status = sql->dups(st, w->agency, w->dup_key, cid, &op->out);
	}
	return status == STORE_OK ? audit(st, w, "client-add", w->id) : status;
}

static enum store_status op_update(struct store *st, const struct store_clients_writes *sql,
                                   struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	int64_t cid = 0;
	enum store_status status;

	/* The id goes back whatever happens: a refusal names the client too. */
	snprintf(op->out.id, sizeof(op->out.id), "%s", w->id);
	if ((status = owned_update(st, sql, w, &cid, &op->out.version)) != STORE_OK) {
		return status;
	}
	*wrote = true;
	status = sql->version(st, cid, op->out.version, w);
	if (status == STORE_OK && w->dup_key != NULL) {
		status = sql->dups(st, w->agency, w->dup_key, cid, &op->out);
	}
	return status == STORE_OK ? audit(st, w, "client-update", w->id) : status;
}

/* Add agency to, the recipient of an erased client's referral, to out's holders, once. */
void store_client_out_holder(struct store_client_out *out, const char *to)
{
	size_t i = 0;

	while (i < out->n_holders && strcmp(out->holders[i], to) != 0) {
		i++;
	}
	if (i == out->n_holders && out->n_holders < STORE_HOLDERS_MAX) {
		snprintf(out->holders[out->n_holders++], sizeof(out->holders[0]), "%s", to);
	}
}

static enum store_status op_erase(struct store *st, const struct store_clients_writes *sql,
                                  struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	int64_t cid = 0;
	enum store_status status;

	snprintf(op->out.id, sizeof(op->out.id), "%s", w->id);
	if ((status = owned_update(st, sql, w, &cid, NULL)) != STORE_OK) {
		return status;
	}
	*wrote = true;
	if ((status = sql->erase_rows(st, cid)) == STORE_OK) {
		status = sql->erase_copies(st, w->id, &op->out);
	}
	if (status == STORE_OK) {
		status = audit(st, w, "client-erase", w->id);
	}
	op->erased = status == STORE_OK;
	return status;
}

static enum store_status op_consent_add(struct store *st, const struct store_clients_writes *sql,
                                        struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	int64_t cid = 0;
	enum store_status status = client_missed(st, sql, w->client_id, w->agency, &cid);

	snprintf(op->out.id, sizeof(op->out.id), "%s", w->client_id);
	if (status != STORE_OK || (status = sql->consent(st, w, cid)) != STORE_OK) {
		return status;
	}
	*wrote = true;
	return audit(st, w, "consent-add", w->client_id);
}

static enum store_status op_consent_withdraw(struct store *st,
                                             const struct store_clients_writes *sql,
                                             struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	bool hit = false, mine = false;

	if (sql->withdraw(st, w, &hit) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	/* Which client (for the audit), or why nothing matched: not the caller's, or withdrawn. */
	if (sql->consent_owner(st, w->id, w->agency, &mine, op->out.id) != STORE_OK) {
		*wrote = hit;
		return STORE_UNAVAILABLE;
	}
	if (!hit) {
		return mine ? STORE_CONFLICT : STORE_NOT_FOUND;
	}
	*wrote = true;
	return audit(st, w, "consent-withdraw", op->out.id);
}

/* Run a client write with backend statements sql, inside the writer's open transaction. */
enum store_status store_clients_run(struct store *st, const struct store_clients_writes *sql,
                                    struct store_client_op *op, bool *partial)
{
	enum store_status status = STORE_UNAVAILABLE;
	bool wrote = false;

	memset(&op->out, 0, sizeof(op->out));
	op->erased = false;
	switch (op->w.kind) {
	case SC_ADD:
		status = op_add(st, sql, op, &wrote);
		break;
	case SC_UPDATE:
		status = op_update(st, sql, op, &wrote);
		break;
	case SC_ERASE:
		status = op_erase(st, sql, op, &wrote);
		break;
	case SC_CONSENT_ADD:
		status = op_consent_add(st, sql, op, &wrote);
		break;
	case SC_CONSENT_WITHDRAW:
		status = op_consent_withdraw(st, sql, op, &wrote);
		break;
	}
	/* The op functions say whether they wrote anything; the writer wants to know whether a
	 * failure left something to undo. */
	*partial = wrote && status != STORE_OK;
	return status;
}

/* Say whether a committed client write erased personal data. */
bool store_clients_erased(const struct store_client_op *op)
{
	return op->erased;
}

/* Collect the possible duplicates of the client w just inserted (row cid) into res. */
static enum store_status dups_copy(struct store *st, const struct store_clients_writes *sql,
                                   const struct store_client_write *w, int64_t cid,
                                   struct store_result *res)
{
	struct store_client_out out;
	enum store_status status;

	out.n_dups = 0;
	if ((status = sql->dups(st, w->agency, w->dup_key, cid, &out)) == STORE_OK) {
		memcpy(res->dups, out.dups, out.n_dups * sizeof(out.dups[0]));
		res->n_dups = out.n_dups;
	}
	return status;
}

/* Make the client a referral carries (packed in r->client) a stored client of the sender,
 * with the referral's consent as its first consent row; its possible duplicates go to res. */
static enum store_status on_insert_new(struct store *st, const struct store_clients_writes *sql,
                                       const struct store_new_referral *r, struct store_result *res)
{
	Refex__ClientRecord *c = refex__client_record__unpack(NULL, r->client_len, r->client);
	Refex__Consent *k = NULL;
	char key[STORE_DUP_KEY_MAX];
	struct store_client_write w = {
	    .id = r->client_id,
	    .agency = r->sender,
	    .holder = r->sender_holder,
	    .at = r->created_at,
	    .record = r->client,
	    .record_len = r->client_len,
	    .name = r->client_name,
	    .dup_key = key,
	};
	int64_t cid = 0;
	bool wrote = false;
	enum store_status status = STORE_UNAVAILABLE;

	if (c == NULL) {
		goto done;
	}
	store_client_dup_key(c, key, sizeof(key));
	if ((status = client_insert(st, sql, &w, &cid, &wrote)) != STORE_OK ||
	    (status = dups_copy(st, sql, &w, cid, res)) != STORE_OK ||
	    (status = audit(st, &w, "client-add", w.id)) != STORE_OK) {
		goto done;
	}
	if (r->consent != NULL && r->consent_id[0] != '\0' &&
	    (k = refex__consent__unpack(NULL, r->consent_len, r->consent)) == NULL) {
		status = STORE_UNAVAILABLE; /* never share a client without its consent row */
	} else if (k != NULL) {
		w.id = r->consent_id;
		w.to_agency = r->recipient;
		w.basis = REFEX__LAWFUL_BASIS__BASIS_CONSENT;
		w.method = k->method;
		w.purpose = k->purpose;
		if ((status = sql->consent(st, &w, cid)) == STORE_OK) {
			status = audit(st, &w, "consent-add", r->client_id);
		}
	}
done:
	if (c != NULL) {
		refex__client_record__free_unpacked(c, NULL);
	}
	if (k != NULL) {
		refex__consent__free_unpacked(k, NULL);
	}
	return status;
}

/* Say whether a live consent or other basis covers sharing client id with agency today. */
static enum store_status share_check(struct store *st, const struct store_clients_writes *sql,
                                     const char *id, const char *agency, int64_t now)
{
	char today[11];
	bool covered = false;

	store_day(now, today);
	if (sql->covered(st, id, agency, today, &covered) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	return covered ? STORE_OK : STORE_REFUSED;
}

/* Check the stored client a referral just inserted (its row names it) may be shared, making a
 * new one first for an inline client; audit the share. */
enum store_status store_clients_insert_run(struct store *st, const struct store_clients_writes *sql,
                                           const struct store_new_referral *r,
                                           struct store_result *res)
{
	/* Checked again here: a withdrawal committed since the handler looked must win. */
	enum store_status status =
	    r->client_version ? share_check(st, sql, r->client_id, r->recipient, r->created_at)
	                      : on_insert_new(st, sql, r, res);

	if (status != STORE_OK) {
		return status;
	}
	return st->be->write.audit(st, &(struct store_audit){.agency = r->sender,
	                                                     .holder = r->sender_holder,
	                                                     .action = "client-share",
	                                                     .record = r->client_id,
	                                                     .at_ms = r->created_at * 1000});
}

/* ---- loop thread: queueing ---- */

static void op_done(enum store_status status, struct store_client_op *op)
{
	if (op->cb != NULL) {
		op->cb(status, &op->out, op->arg);
	}
	free(op);
}

/* Queue a client write for the next group commit. */
int store_client_write(struct store *st, const struct store_client_write *w, store_client_cb cb,
                       void *arg)
{
	struct store_client_op *op;
	struct store_client_write c;

	if (st == NULL || w == NULL || w->id == NULL || w->agency == NULL || w->holder == NULL ||
	    ((w->kind == SC_ADD || w->kind == SC_UPDATE) && w->record == NULL) ||
	    (w->kind == SC_CONSENT_ADD && w->client_id == NULL)) {
		return -1;
	}
	c = *w;
	const struct store_copy f[] = {
	    STORE_COPY_STR(&c.id),
	    STORE_COPY_STR(&c.client_id),
	    STORE_COPY_STR(&c.agency),
	    STORE_COPY_STR(&c.holder),
	    STORE_COPY_STR(&c.name),
	    STORE_COPY_STR(&c.dup_key),
	    STORE_COPY_STR(&c.reason),
	    STORE_COPY_STR(&c.to_agency),
	    STORE_COPY_STR(&c.purpose),
	    STORE_COPY_STR(&c.expires),
	    STORE_COPY_BLOB(&c.record, w->record_len),
	};
	op = malloc(sizeof(*op) + store_copy_size(f, sizeof(f) / sizeof(f[0])));
	if (op == NULL) {
		return -1;
	}
	memset(op, 0, sizeof(*op));
	store_copy_fields(op->data, f, sizeof(f) / sizeof(f[0]));
	op->cb = cb;
	op->arg = arg;
	op->w = c;
	if (store_job_queue_client(st, op, op_done) < 0) {
		free(op);
		return -1;
	}
	return 0;
}
