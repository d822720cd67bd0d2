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

/* Read a page from the store, pack it as a Response body and keep it in the cache. */
static uint8_t *page_build(struct request *rq, const struct store_query *q, size_t *len)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__ReferralPage page = REFEX__REFERRAL_PAGE__INIT;
	struct store_page sp = {0};
	char token[32];
	uint8_t *bytes;

	if (store_list(rq->hub->store, q, &sp) != STORE_OK) {
		return NULL;
	}
	page.n_referrals = sp.n;
	page.referrals = sp.items;
	if (sp.next_before > 0) {
		snprintf(token, sizeof(token), "%lld", (long long)sp.next_before);
		page.next_page_token = token;
	}
	r.body_case = REFEX__RESPONSE__BODY_PAGE;
	r.page = &page;
	*len = refex__response__get_packed_size(&r);
	if ((bytes = malloc(*len ? *len : 1)) != NULL) {
		refex__response__pack(&r, bytes);
		if (q->client_id == NULL) { /* the cache keys pages by box, state and cursor only */
			page_cache_put(rq->hub->pages, q, bytes, *len,
			               page_valid_until(&sp, q->now));
		}
	}
	store_page_free(&sp);
	return bytes;
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
	uint8_t *built;
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
	if ((built = page_build(rq, &q, &len)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "referrals cannot be listed right now; please try again");
		return;
	}
	reply_tail(rq, built, len);
	free(built);
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
