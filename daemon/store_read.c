/*
 * The reads of store.h, store_clients.h and store_report.h: each is the
 * backend's (store_backend.h), on whichever thread calls it: the loop, or the
 * reader thread through store_read_async (store_queue.c).
 */
#include "store_private.h"

/* The backend of st. No store (a hub without one, in tests) gets the default backend, whose reads
 * clear their outputs and refuse a NULL store as they always did. */
static const struct store_backend *be(struct store *st)
{
	return st != NULL ? st->be : &store_sqlite_backend;
}

/* Read one referral with client, consent, form data, history, parent and children into *out. */
enum store_status store_get(struct store *st, const char *id, Refex__Referral **out)
{
	return be(st)->read.get(st, id, out);
}

/* Read one page of an agency's inbox or sent list, newest first. */
enum store_status store_list(struct store *st, const struct store_query *q, struct store_page *page)
{
	return be(st)->read.list(st, q, page);
}

/* Read up to max of agency's events with seq > after, oldest first, into *out (n of them). */
enum store_status store_events(struct store *st, const char *agency, uint64_t after, size_t max,
                               Refex__Event ***out, size_t *n)
{
	return be(st)->read.events(st, agency, after, max, out, n);
}

/* Return agency's oldest kept and newest event sequence numbers (0, 0: none yet). */
enum store_status store_event_range(struct store *st, const char *agency, uint64_t *oldest,
                                    uint64_t *newest)
{
	return be(st)->read.event_range(st, agency, oldest, newest);
}

/* Copy into sender (len bytes) the agency that sent referral id: a change of a referral forwarded
 * from id is news to it too (its sent list shows the onward referral). */
enum store_status store_sender_of(struct store *st, const char *id, char *sender, size_t len)
{
	return be(st)->read.sender_of(st, id, sender, len);
}

/* Return the earliest due time of a referral not yet marked overdue (0: none) into *due. */
enum store_status store_next_due(struct store *st, int64_t *due)
{
	return be(st)->read.next_due(st, due);
}

/* Look an idempotency key up: STORE_OK (a repeat; first gets the referral it wrote),
 * STORE_NOT_FOUND (unused), STORE_KEY_REUSED (used for another request). */
enum store_status store_idem_find(struct store *st, const char *agency,
                                  const struct store_idem *idem, char *first)
{
	return be(st)->read.idem_find(st, agency, idem, first);
}

/* Count the referrals in each state into counts (indexed by Refex__State, so counts[0] is 0)
 * and those still open (sent or received) whose due time has passed by now into *overdue. */
enum store_status store_count_states(struct store *st, uint64_t counts[STORE_STATES],
                                     uint64_t *overdue, int64_t now)
{
	return be(st)->read.count_states(st, counts, overdue, now);
}

/* Say whether a purge is due: some closed referral last changed before `before` still holds its
 * details, or some stored client last changed in [clients_since, before) is held by no
 * unpurged referral. (A client can only become free of referrals in a purge, which checks the
 * clients of what it purges: each check need only look at those newly grown old enough.) */
enum store_status store_purge_due(struct store *st, int64_t before, int64_t clients_since,
                                  bool *due)
{
	return be(st)->read.purge_due(st, before, clients_since, due);
}

/* Read up to max audit entries of one referral, oldest first, into *out (n of them). */
enum store_status store_audit_list(struct store *st, const char *record, size_t max,
                                   Refex__AuditEntry ***out, size_t *n)
{
	return be(st)->read.audit_list(st, record, max, out, n);
}

/* Read every stored form version, by form then version, into *out (n of them). */
enum store_status store_form_versions(struct store *st, struct store_form_version **out, size_t *n)
{
	return be(st)->read.form_versions(st, out, n);
}

/* Read client id as agency may see it into *out (STORE_NOT_FOUND: none it may see); *owner
 * says whether agency owns it. Free with store_client_free. */
enum store_status store_client_get(struct store *st, const char *id, const char *agency,
                                   Refex__StoredClient **out, bool *owner)
{
	return be(st)->read.client_get(st, id, agency, out, owner);
}

/* List agency's own clients and those referred to it, newest first (at most max), those whose
 * name holds search (case-insensitive; NULL: all). Free with store_client_list_free. */
enum store_status store_client_list(struct store *st, const char *agency, const char *search,
                                    size_t max, Refex__StoredClient ***out, size_t *n)
{
	return be(st)->read.client_list(st, agency, search, max, out, n);
}

/* List the consents of client id that agency may see (the owner: all; else those covering
 * agency), oldest first. Free with store_consent_list_free. */
enum store_status store_consent_list(struct store *st, const char *id, const char *agency,
                                     bool owner, Refex__ConsentRecord ***out, size_t *n)
{
	return be(st)->read.consent_list(st, id, agency, owner, out, n);
}

/* Read the report cells of q from the hub's read connection. */
enum store_status store_report_read(struct store *st, const struct store_report_query *q,
                                    struct store_report_data *out)
{
	return be(st)->read.report_read(st, q, out);
}
