/* refex-bench --load: fill a store file quickly through the store's own group commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "store.h"

#define LOAD_WINDOW 20000 /* inserts queued at once */

struct load {
	long done;
	long failed;
};

static void load_done(enum store_status status, const struct store_result *res, void *arg)
{
	struct load *l = arg;

	(void)res;
	l->done++;
	l->failed += status != STORE_OK;
}

static uint8_t *pack_form(size_t size, size_t *len)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	size_t pad = size > 16 ? size - 16 : 1;
	char *needs = malloc(pad + 1);
	uint8_t *buf;

	if (needs == NULL) {
		return NULL;
	}
	memset(needs, 'x', pad);
	needs[pad] = '\0';
	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__NO_FIXED_ABODE;
	form.support_needs = needs;
	buf = malloc(refex__forms__housing_support__get_packed_size(&form));
	if (buf != NULL) {
		*len = refex__forms__housing_support__pack(&form, buf);
	}
	free(needs);
	return buf;
}

/* Fill a store file with referrals across agencies, fast, for listing benchmarks. */
int bench_load(const char *db, long referrals, int agencies, size_t size)
{
	struct event_base *base = event_base_new();
	Refex__ClientRecord client = REFEX__CLIENT_RECORD__INIT;
	uint8_t cbuf[64], *form;
	size_t clen, flen = 0;
	struct load l = {0};
	struct store *st;
	char err[256], id[STORE_ID_LEN + 1], sender[24], recipient[24];
	time_t now = time(NULL);

	client.given_name = "Load";
	client.family_name = "Client";
	clen = refex__client_record__pack(&client, cbuf);
	form = pack_form(size, &flen);
	if (base == NULL || form == NULL || (st = store_open(db, base, err, sizeof(err))) == NULL) {
		fprintf(stderr, "refex-bench: cannot open %s: %s\n", db, base && form ? err : "");
		free(form);
		return -1;
	}
	for (long i = 0; i < referrals; i++) {
		int from = (int)(i % agencies), to = (int)((i / agencies + from + 1) % agencies);
		struct store_new_referral r = {
		    .id = id,
		    .sender = sender,
		    .sender_holder = "loader",
		    .recipient = recipient,
		    .form = "housing_support",
		    .form_version = 1,
		    .created_at = (int64_t)now - (referrals - i),
		    .client_name = "Load Client",
		    .client = cbuf,
		    .client_len = clen,
		    .form_data = form,
		    .form_data_len = flen,
		};

		if (to == from) {
			to = (to + 1) % agencies;
		}
		snprintf(sender, sizeof(sender), "agency-%03d", from);
		snprintf(recipient, sizeof(recipient), "agency-%03d", to);
		store_new_id(id);
		if (store_insert(st, &r, load_done, &l) < 0) {
			break;
		}
		while (i + 1 - l.done >= LOAD_WINDOW) {
			event_base_loop(base, EVLOOP_ONCE);
		}
	}
	store_close(st); /* runs the remaining callbacks */
	event_base_free(base);
	free(form);
	printf("loaded %ld referrals across %d agencies into %s (%ld failed)\n", l.done - l.failed,
	       agencies, db, l.failed);
	return l.failed == 0 && l.done == referrals ? 0 : -1;
}
