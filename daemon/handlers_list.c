/* Listings: inbox, sent, partners. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers_private.h"

#include "form.h"
#include "page_cache.h"

/* When a page's overdue flags will change: the earliest due time still ahead (0: never). */
static int64_t page_valid_until(const struct store_page *sp, int64_t now)
{
	int64_t until = 0;

	for (size_t i = 0; i < sp->n; i++) {
		const Refex__Referral *r = sp->items[i];
		bool open = r->state == REFEX__STATE__STATE_SENT ||
		            r->state == REFEX__STATE__STATE_RECEIVED;

		if (open && r->due_at > now && (until == 0 || r->due_at < until)) {
			until = r->due_at;
		}
	}
	return until;
}

/* A listing being read: the query (its strings copied), the page, and the cache generation of
 * the agency when the read began. */
struct pending_list {
	struct request rq;
	struct store_query q;
	char *client_id;
	uint64_t gen;
	struct store_page sp;
};

/* Pack the page read for p as a Response body and keep it in the cache (if it was read before
 * any commit changed the agency's pages). */
static uint8_t *page_pack(struct pending_list *p, size_t *len)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__ReferralPage page = REFEX__REFERRAL_PAGE__INIT;
	char token[32];
	uint8_t *bytes;

	page.n_referrals = p->sp.n;
	page.referrals = p->sp.items;
	if (p->sp.next_before > 0) {
		snprintf(token, sizeof(token), "%lld", (long long)p->sp.next_before);
		page.next_page_token = token;
	}
	r.body_case = REFEX__RESPONSE__BODY_PAGE;
	r.page = &page;
	*len = refex__response__get_packed_size(&r);
	if ((bytes = malloc(*len ? *len : 1)) != NULL) {
		refex__response__pack(&r, bytes);
		if (p->q.client_id ==
		    NULL) { /* the cache keys pages by box, state and cursor only */
			page_cache_put_as_of(p->rq.hub->pages, &p->q, p->gen, bytes, *len,
			                     page_valid_until(&p->sp, p->q.now));
		}
	}
	return bytes;
}

static enum store_status list_read(struct store *st, void *arg)
{
	struct pending_list *p = arg;

	return store_list(st, &p->q, &p->sp);
}

/* Answer the listing once its page is read. */
static void list_done(enum store_status status, void *arg)
{
	struct pending_list *p = arg;
	uint8_t *built = NULL;
	size_t len;

	if (status != STORE_OK || (built = page_pack(p, &len)) == NULL) {
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "referrals cannot be listed right now; please try again");
	} else {
		reply_tail(&p->rq, built, len);
	}
	free(built);
	store_page_free(&p->sp);
	free(p->client_id);
	request_release(&p->rq);
}

/* Read the page of q from the store (off the loop where reads cross a network) and answer. */
static void list_read_async(struct request *rq, const struct store_query *q)
{
	struct pending_list *p = request_keep_for_read(rq, sizeof(*p));

	if (p == NULL) {
		return;
	}
	p->q = *q;
	p->gen = page_cache_gen(rq->hub->pages, q->agency);
	if (q->client_id != NULL &&
	    (p->q.client_id = p->client_id = strdup(q->client_id)) == NULL) {
		list_done(STORE_UNAVAILABLE, p);
		return;
	}
	store_read_async(rq->hub->store, list_read, list_done, p);
}

static void handle_list(struct request *rq, Refex__ListReferrals *l, enum store_box box)
{
	const struct limits *lim = &rq->hub->cfg->limits;
	struct store_query q = {
	    .box = box,
	    .agency = session_identity(rq->s)->agency,
	    .state = l->has_state ? l->state : REFEX__STATE__STATE_UNSPECIFIED,
	    .limit = l->has_limit && l->limit > 0 ? l->limit : lim->page_size,
	    .overdue_only = l->has_overdue_only && l->overdue_only,
	    .now = (int64_t)time(NULL),
	};
	const uint8_t *kept;
	char *end;
	size_t len;

	if (q.limit > lim->max_page_size) {
		q.limit = lim->max_page_size;
	}
	if (!is_blank(l->page_token)) {
		q.before = strtoll(l->page_token, &end, 10);
		if (*end != '\0' || q.before <= 0) {
			reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "page_token",
			            "the page token is not one this server gave out");
			return;
		}
	}
	if (!is_blank(l->client_id)) {
		if (q.overdue_only) {
			reply_error(
			    rq, REFEX__STATUS_CODE__STATUS_INVALID, "client_id",
			    "a listing is either of one client's referrals or of overdue ones");
			return;
		}
		q.client_id = l->client_id; /* rare: read straight from the store, not cached */
	} else if ((kept = page_cache_get(rq->hub->pages, &q, q.now, &len)) != NULL) {
		reply_tail(rq, kept, len);
		return;
	}
	list_read_async(rq, &q);
}

/* List the referrals the agency received. */
void handle_list_inbox(struct request *rq, Refex__Request *msg)
{
	handle_list(rq, msg->list_inbox, STORE_INBOX);
}

/* List the referrals the agency sent. */
void handle_list_sent(struct request *rq, Refex__Request *msg)
{
	handle_list(rq, msg->list_sent, STORE_SENT);
}

/* List the partner agencies and the forms each accepts. */
void handle_list_partners(struct request *rq, Refex__Request *msg)
{
	const struct config *cfg = rq->hub->cfg;
	size_t n = cfg->n_agencies;
	Refex__Partner *partners = calloc(n, sizeof(*partners));
	Refex__Partner **ptrs = calloc(n, sizeof(*ptrs));
	Refex__PartnerList list = REFEX__PARTNER_LIST__INIT;
	Refex__Response r = REFEX__RESPONSE__INIT;

	(void)msg;
	if (partners == NULL || ptrs == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		Refex__Partner init = REFEX__PARTNER__INIT;

		partners[i] = init;
		partners[i].id = cfg->agencies[i].id;
		partners[i].name = cfg->agencies[i].name;
		partners[i].n_forms = cfg->agencies[i].n_accepts;
		partners[i].forms = cfg->agencies[i].accepts;
		ptrs[i] = &partners[i];
	}
	list.n_partners = n;
	list.partners = ptrs;
	r.body_case = REFEX__RESPONSE__BODY_PARTNERS;
	r.partners = &list;
	reply(rq, &r);
done:
	free(partners);
	free(ptrs);
}
