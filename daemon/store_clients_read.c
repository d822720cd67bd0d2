/*
 * Client records, their versions and consents: the read side, the same on
 * every backend. Who may see a client is decided here: its owner sees the
 * newest version; an agency a referral of it was sent to sees the newest
 * version shared with it; anyone else finds nothing. The backend reads the
 * rows (struct store_clients_reads: store_clients_sqlite_read.c,
 * store_pg_clients.c) in one read transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_clients_backend.h"

/* Build a client from a get row as agency sees it, before store_client_finish. */
Refex__StoredClient *store_client_from_row(const struct store_row *row, const char *id,
                                           const char *agency, bool *owner, int64_t *cid,
                                           uint32_t *version)
{
	Refex__StoredClient *c = malloc(sizeof(*c));
	bool oom = c == NULL;

	*cid = row->num(row, 0);
	*version = (uint32_t)row->num(row, 2);
	if (c != NULL) {
		refex__stored_client__init(c);
		c->id = strdup(id);
		c->owner = row->str(row, 1, &oom);
		c->has_created_at = c->has_updated_at = 1;
		c->created_at = row->num(row, 3);
		c->updated_at = row->num(row, 4);
		c->name = row->str(row, 5, &oom);
		c->erased_at = row->num(row, 6);
		c->has_erased_at = c->erased_at > 0;
		c->erased_by = row->str(row, 7, &oom);
		*owner = c->owner != NULL && strcmp(c->owner, agency) == 0;
		if (*owner) {
			c->erase_reason = row->str(row, 8, &oom);
		}
		oom = oom || c->id == NULL;
	}
	if (oom) {
		store_client_free(c);
		return NULL;
	}
	return c;
}

/* Read what covers sharing client row cid with agency today. */
static enum store_status cover_today(struct store *st, const struct store_clients_reads *rd,
                                     int64_t cid, const char *agency, int64_t *live,
                                     int64_t *withdrawn_at)
{
	char today[11];

	store_day((int64_t)time(NULL), today);
	return rd->cover(st, cid, agency, today, live, withdrawn_at);
}

/* Finish client c as agency sees it: the version shared with it unless owner, its record, its
 * name. */
enum store_status store_client_finish(struct store *st, const struct store_clients_reads *rd,
                                      Refex__StoredClient *c, int64_t cid, uint32_t version,
                                      const char *agency, bool owner, Refex__StoredClient **out)
{
	int64_t live = 0, withdrawn = 0;
	enum store_status status = STORE_OK;

	if (!owner) {
		status = rd->shared(st, c->id, agency, &version);
		if (status == STORE_OK && version == 0) {
			status = STORE_NOT_FOUND;
		}
		if (status == STORE_OK) {
			status = cover_today(st, rd, cid, agency, &live, &withdrawn);
		}
		c->consent_withdrawn_at = live == 0 ? withdrawn : 0;
		c->has_consent_withdrawn_at = c->consent_withdrawn_at > 0;
		free(c->name); /* the owner's current name, maybe newer than what was shared */
		c->name = NULL;
	}
	c->has_version = 1;
	c->version = version;
	if (status == STORE_OK && !c->has_erased_at) {
		status = rd->record(st, cid, version, &c->record);
	}
	if (status == STORE_OK && c->name == NULL && c->record != NULL &&
	    asprintf(&c->name, "%s %s", c->record->given_name, c->record->family_name) < 0) {
		c->name = NULL;
		status = STORE_UNAVAILABLE;
	}
	if (status != STORE_OK) {
		store_client_free(c);
		return status;
	}
	*out = c;
	return STORE_OK;
}

/* Free a client from store_client_get. */
void store_client_free(Refex__StoredClient *c)
{
	if (c != NULL) {
		protobuf_c_message_free_unpacked(&c->base, NULL);
	}
}

/* Build a listed client from row. */
Refex__StoredClient *store_client_summary(const struct store_row *row, bool *oom)
{
	Refex__StoredClient *c = malloc(sizeof(*c));

	if (c == NULL) {
		*oom = true;
		return NULL;
	}
	refex__stored_client__init(c);
	c->id = row->str(row, 0, oom);
	c->owner = row->str(row, 1, oom);
	c->has_version = c->has_created_at = c->has_updated_at = 1;
	c->version = (uint32_t)row->num(row, 2);
	c->created_at = row->num(row, 3);
	c->updated_at = row->num(row, 4);
	c->name = row->str(row, 5, oom);
	c->erased_at = row->num(row, 6);
	c->has_erased_at = c->erased_at > 0;
	c->erased_by = row->str(row, 7, oom);
	return c;
}

/* Free what store_client_list returned. */
void store_client_list_free(Refex__StoredClient **list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		store_client_free(list[i]);
	}
	free(list);
}

/* Build a consent of client client_id from row. */
Refex__ConsentRecord *store_consent_from_row(const struct store_row *row, const char *client_id,
                                             bool *oom)
{
	Refex__ConsentRecord *k = malloc(sizeof(*k));

	if (k == NULL) {
		*oom = true;
		return NULL;
	}
	refex__consent_record__init(k);
	k->id = row->str(row, 0, oom);
	k->client_id = strdup(client_id);
	*oom = *oom || k->client_id == NULL;
	k->to_agency = row->str(row, 1, oom);
	k->has_any_partner = 1;
	k->any_partner = k->to_agency == NULL;
	k->has_basis = 1;
	k->basis = (Refex__LawfulBasis)row->num(row, 2);
	k->purpose = row->str(row, 3, oom);
	if (!row->null(row, 4)) {
		k->has_method = 1;
		k->method = (Refex__ConsentMethod)row->num(row, 4);
	}
	k->reason = row->str(row, 5, oom);
	k->expires = row->str(row, 6, oom);
	k->recorded_agency = row->str(row, 7, oom);
	k->recorded_by = row->str(row, 8, oom);
	k->has_recorded_at = 1;
	k->recorded_at = row->num(row, 9);
	k->withdrawn_at = row->num(row, 10);
	k->has_withdrawn_at = k->withdrawn_at > 0;
	k->withdrawn_agency = row->str(row, 11, oom);
	k->withdrawn_by = row->str(row, 12, oom);
	k->withdraw_reason = row->str(row, 13, oom);
	return k;
}

/* Append a consent to *list (n of them, room for *cap); -1 if out of memory. */
int store_consent_push(Refex__ConsentRecord ***list, size_t *n, size_t *cap,
                       Refex__ConsentRecord *k)
{
	Refex__ConsentRecord **grown;

	if (k == NULL) {
		return -1;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		if ((grown = realloc(*list, *cap * sizeof(*grown))) == NULL) {
			protobuf_c_message_free_unpacked(&k->base, NULL);
			return -1;
		}
		*list = grown;
	}
	(*list)[(*n)++] = k;
	return 0;
}

/* Free what store_consent_list returned. */
void store_consent_list_free(Refex__ConsentRecord **list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		protobuf_c_message_free_unpacked(&list[i]->base, NULL);
	}
	free(list);
}

/* Fill ref's stored-client state from the store, inside the caller's read transaction. */
enum store_status store_clients_state_run(struct store *st, const struct store_clients_reads *rd,
                                          Refex__Referral *ref)
{
	int64_t cid = 0, erased_at = 0, live = 0, withdrawn_at = 0;
	char by[64] = "";
	enum store_status status;

	if (ref->client_id == NULL) {
		return STORE_OK;
	}
	status = rd->state(st, ref->client_id, &cid, &erased_at, by, sizeof(by));
	if (status == STORE_OK) {
		status = cover_today(st, rd, cid, ref->recipient, &live, &withdrawn_at);
	}
	if (status != STORE_OK) {
		/* No row for the client it names: the referral is still there to show. */
		return status == STORE_NOT_FOUND ? STORE_OK : status;
	}
	if (erased_at > 0) {
		ref->has_client_erased_at = 1;
		ref->client_erased_at = erased_at;
		if ((ref->client_erased_by = strdup(by)) == NULL) {
			return STORE_UNAVAILABLE;
		}
	} else if (live == 0 && withdrawn_at > 0) {
		ref->has_consent_withdrawn_at = 1;
		ref->consent_withdrawn_at = withdrawn_at;
	}
	return STORE_OK;
}
