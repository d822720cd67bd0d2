/* The referral lifecycle table: every state x event x party. */
#include <criterion/criterion.h>

#include "lifecycle.h"

#define S(x) REFEX__STATE__STATE_##x

struct cell {
	Refex__State from;
	enum lifecycle_event ev;
	enum party who;
	enum lifecycle_verdict verdict;
	Refex__State to;
};

/* The whole expected table; anything not listed for the right party is a conflict. */
static const struct cell allowed[] = {
    {S(SENT), LC_RECEIVE, PARTY_RECIPIENT, LC_OK, S(RECEIVED)},
    {S(SENT), LC_ACCEPT, PARTY_RECIPIENT, LC_OK, S(ACCEPTED)},
    {S(RECEIVED), LC_ACCEPT, PARTY_RECIPIENT, LC_OK, S(ACCEPTED)},
    {S(SENT), LC_DECLINE, PARTY_RECIPIENT, LC_OK, S(DECLINED)},
    {S(RECEIVED), LC_DECLINE, PARTY_RECIPIENT, LC_OK, S(DECLINED)},
    {S(ACCEPTED), LC_COMPLETE, PARTY_RECIPIENT, LC_OK, S(COMPLETED)},
    {S(SENT), LC_WITHDRAW, PARTY_SENDER, LC_OK, S(WITHDRAWN)},
    {S(RECEIVED), LC_WITHDRAW, PARTY_SENDER, LC_OK, S(WITHDRAWN)},
    {S(ACCEPTED), LC_WITHDRAW, PARTY_SENDER, LC_OK, S(WITHDRAWN)},
};

static const struct cell *find_allowed(Refex__State from, enum lifecycle_event ev)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (allowed[i].from == from && allowed[i].ev == ev) {
			return &allowed[i];
		}
	}
	return NULL;
}

static enum party owner(enum lifecycle_event ev)
{
	return ev == LC_WITHDRAW ? PARTY_SENDER : PARTY_RECIPIENT;
}

Test(lifecycle, whole_table)
{
	for (int from = S(SENT); from <= S(WITHDRAWN); from++) {
		for (int ev = LC_RECEIVE; ev <= LC_WITHDRAW; ev++) {
			for (int who = PARTY_SENDER; who <= PARTY_RECIPIENT; who++) {
				const struct cell *c = find_allowed(from, ev);
				Refex__State to = S(UNSPECIFIED);
				enum lifecycle_verdict v = lifecycle_apply(from, ev, who, &to);

				if (who != (int)owner(ev)) {
					cr_expect_eq(
					    v, LC_FORBIDDEN, "%s by the wrong party from %s",
					    lifecycle_event_name(ev), lifecycle_state_name(from));
				} else if (c != NULL) {
					cr_expect_eq(v, LC_OK, "%s from %s",
					             lifecycle_event_name(ev),
					             lifecycle_state_name(from));
					cr_expect_eq(to, c->to);
				} else {
					cr_expect_eq(v, LC_CONFLICT, "%s from %s",
					             lifecycle_event_name(ev),
					             lifecycle_state_name(from));
				}
			}
		}
	}
}

Test(lifecycle, terminal_states_never_change)
{
	Refex__State terminal[] = {S(DECLINED), S(COMPLETED), S(WITHDRAWN)};

	for (size_t i = 0; i < 3; i++) {
		cr_expect(lifecycle_is_terminal(terminal[i]));
		for (int ev = LC_RECEIVE; ev <= LC_WITHDRAW; ev++) {
			Refex__State to;

			cr_expect_neq(lifecycle_apply(terminal[i], ev, owner(ev), &to), LC_OK);
		}
	}
	cr_expect_not(lifecycle_is_terminal(S(SENT)));
	cr_expect_not(lifecycle_is_terminal(S(ACCEPTED)));
}

Test(lifecycle, actions_map_and_reasons)
{
	enum lifecycle_event ev;

	cr_expect_eq(lifecycle_event_from_action(REFEX__ACTION__ACTION_ACCEPT, &ev), 0);
	cr_expect_eq(ev, LC_ACCEPT);
	cr_expect_eq(lifecycle_event_from_action(REFEX__ACTION__ACTION_WITHDRAW, &ev), 0);
	cr_expect_eq(ev, LC_WITHDRAW);
	cr_expect_eq(lifecycle_event_from_action(REFEX__ACTION__ACTION_UNSPECIFIED, &ev), -1);
	cr_expect_eq(lifecycle_event_from_action((Refex__Action)99, &ev), -1);
	cr_expect(lifecycle_needs_reason(LC_DECLINE));
	cr_expect(lifecycle_needs_reason(LC_COMPLETE));
	cr_expect(lifecycle_needs_reason(LC_WITHDRAW));
	cr_expect_not(lifecycle_needs_reason(LC_ACCEPT));
	cr_expect_str_eq(lifecycle_state_name(S(ACCEPTED)), "accepted");
	cr_expect_str_eq(lifecycle_state_name((Refex__State)42), "unknown");
}
