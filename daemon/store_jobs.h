/*
 * The write jobs' sequences, written once above both backends (store_jobs.c):
 * what an insert, a change, a sweep and a forms change do, step by step,
 * inside the batch's open transaction. Each step is a statement-level op of
 * the backend (struct store_backend_stmts), which holds all the SQL; the
 * commit queue runs them over the backend's `stmts` (store_backend.h).
 */
#ifndef REFEX_STORE_JOBS_H
#define REFEX_STORE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The referral a change moved: its row id (0: no row matched), its parties, and the referral
 * it was referred on from (empty: none, or the backend has no origin op). */
struct store_changed {
	int64_t rid;
	char sender[128], recipient[128], parent[STORE_ID_LEN + 1];
};

/* One referral a sweep found overdue: its row id and parties. */
struct store_overdue {
	int64_t rid;
	char sender[128], recipient[128];
};

/*
 * A backend's statements under the job sequences, each one step on the storage
 * thread inside the open transaction: STORE_OK, or a failure that leaves the
 * step's own statement undone (the sequence then says whether earlier steps
 * need a savepoint). NULL optional ops are skipped.
 */
struct store_backend_stmts {
	/* Look agency's key up: STORE_OK with the first referral's id in first, STORE_NOT_FOUND
	 * or STORE_KEY_REUSED. */
	enum store_status (*idem_get)(struct store *st, const char *agency,
	                              const struct store_idem *idem, char *first);
	/* Remember agency's key (set) with the referral it wrote, at now. */
	enum store_status (*idem_put)(struct store *st, const char *agency,
	                              const struct store_idem *idem, const char *referral_id,
	                              int64_t now);
	/* Forget keys made before `before`. */
	enum store_status (*idem_prune)(struct store *st, int64_t before);
	/* Insert the referral's row (state sent); its row id to *rid. STORE_DUPLICATE if its id
	 * is taken. */
	enum store_status (*insert_row)(struct store *st, const struct store_new_referral *r,
	                                int64_t *rid);
	/* Insert its details (client record, consent, form data) for row rid. */
	enum store_status (*insert_data)(struct store *st, int64_t rid,
	                                 const struct store_new_referral *r);
	/* Check and share the stored client the inserted referral names (store_clients.h). */
	enum store_status (*client_on_insert)(struct store *st, const struct store_new_referral *r,
	                                      struct store_result *res);
	/* Optional last step of an insert (batch counters the backend keeps). */
	enum store_status (*inserted)(struct store *st, const struct store_new_referral *r);
	/* Move the referral from c->from to c->to (settling its due time); what moved to *row,
	 * row->rid 0 if no row matched. */
	enum store_status (*update_state)(struct store *st, const struct store_change *c,
	                                  struct store_changed *row);
	/* Say whether referral id exists (*found). */
	enum store_status (*exists)(struct store *st, const char *id, bool *found);
	/* Add the change's history row to referral rid; its seq to *seq. */
	enum store_status (*history_add)(struct store *st, int64_t rid,
	                                 const struct store_change *c, int64_t *seq);
	/* Append an event for agency with its next gap-free number (to *seq); history_seq 0:
	 * none. */
	enum store_status (*event_append)(struct store *st, const char *agency, int64_t rid,
	                                  Refex__EventKind kind, int64_t history_seq,
	                                  uint64_t *seq);
	/* Optional: tell watchers that a referral referred on from parent_id changed. */
	enum store_status (*origin_touched)(struct store *st, const char *parent_id);
	/* Append an entry to the audit chain. */
	enum store_status (*audit_add)(struct store *st, const struct store_audit *a);
	/* Clear the due mark of what fell due by now; the referrals to *list (malloc'd, *n). */
	enum store_status (*overdue_take)(struct store *st, int64_t now,
	                                  struct store_overdue **list, size_t *n);
	/* Record form version v, accepted at `at` (a version is never replaced). */
	enum store_status (*form_add)(struct store *st, const struct store_form_version *v,
	                              int64_t at);
	/* Retire form `form` at `at`. */
	enum store_status (*form_retire)(struct store *st, const char *form, int64_t at);
	/* Bring retired form `form` back (at `at`). */
	enum store_status (*form_revive)(struct store *st, const char *form, int64_t at);
};

/* Insert a referral with its details, stored client, both parties' events, key and audit
 * entry; a repeated key fills res instead. */
enum store_status store_jobs_insert(struct store *st, const struct store_backend_stmts *op,
                                    const struct store_new_referral *r, struct store_result *res,
                                    bool *partial);

/* Apply a change if the referral is still in state c->from, with its history, events, key and
 * audit entry. */
enum store_status store_jobs_change(struct store *st, const struct store_backend_stmts *op,
                                    const struct store_change *c, struct store_result *res,
                                    bool *partial);

/* Mark what fell due by now as overdue, with an event for each party; prune old keys. */
enum store_status store_jobs_sweep(struct store *st, const struct store_backend_stmts *op,
                                   int64_t now, struct store_result *res, bool *partial);

/* Record new form versions, retirements and revivals. */
enum store_status store_jobs_forms(struct store *st, const struct store_backend_stmts *op,
                                   const struct store_forms_change *c, bool *partial);

#endif
