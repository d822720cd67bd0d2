/*
 * Onward referral: the agency a referral was sent to refers its client on.
 * The client record travels with it; the new form is filled in from the
 * answers of the referral it comes from and from the client record (fields of
 * the same name and type, proto/prefill.h), and the caller supplies only what
 * is still missing. Only the referral in hand is a source: earlier links of
 * the chain belong to agencies the forwarder may not be party to.
 *
 * A stored client travels as itself: the new referral shares the same client
 * id at the version the parent shared, still owned by the agency that
 * recorded it, and only if a live consent or other lawful basis its owner
 * recorded covers the new recipient (handlers_client.c). A parent made
 * before clients were stored passes its inline client on under the
 * forwarder's consent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "form_versions.h"
#include "handlers_client.h"
#include "handlers_private.h"
#include "pballoc.h"
#include "pbjson.h"
#include "prefill.h"

/* Check that the caller may refer parent's client on; answer and return -1 if not. */
static int forward_allowed(struct request *rq, const Refex__Referral *parent, enum party who)
{
	if (who != PARTY_RECIPIENT) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "referral_id",
		            "only the agency referral %s was sent to can refer its client on",
		            parent->id);
		return -1;
	}
	if (parent->state == REFEX__STATE__STATE_WITHDRAWN) {
		reply_error(
		    rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "referral_id",
		    "referral %s was withdrawn by its sender: its client cannot be referred on",
		    parent->id);
		return -1;
	}
	if (parent->client == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "referral_id",
		            "referral %s no longer holds its client's details", parent->id);
		return -1;
	}
	return 0;
}

/* Decode packed answers of form f into JSON (NULL data: an empty object); NULL if undecodable. */
static json_t *answers_json(const struct form *f, const uint8_t *data, size_t len)
{
	struct pballoc budget;
	ProtobufCMessage *m;
	json_t *j;

	if (data == NULL || len == 0) {
		return json_object();
	}
	/* The forwarder's answers come from a peer: decode them within a budget. */
	pballoc_init(&budget, len);
	if ((m = protobuf_c_message_unpack(f->desc, &budget.allocator, len, data)) == NULL) {
		return NULL;
	}
	j = pbjson_encode(m);
	protobuf_c_message_free_unpacked(m, NULL);
	return j;
}

/* The form r was made on, at its version (the parent's answers decode with it, not with the
 * version in force): as kept, or the one in force if it is that version and none is kept (a
 * hub without a store, as in tests/fuzz); NULL when neither. */
static const struct form *form_made_on(const struct hub *hub, const Refex__Referral *r)
{
	const struct form_kept *k = form_versions_find(hub->kept, r->form, r->form_version);
	const struct form *live = form_find(r->form);

	if (k != NULL) {
		return &k->form;
	}
	return live != NULL && live->version == r->form_version ? live : NULL;
}

/* Fill f in from what fw gives, the parent's answers and its client record; pack the result
 * into *out (malloc'd). Answers and returns -1 when something is missing or wrong. */
static int forward_answers(struct request *rq, const Refex__ForwardReferral *fw,
                           const struct form *f, const Refex__Referral *parent,
                           ProtobufCBinaryData *out)
{
	const struct form *pf = form_made_on(rq->hub, parent);
	ProtobufCMessage *earlier = NULL, *m = NULL;
	struct prefill_source src[2];
	struct pbjson_error err;
	json_t *given, *merged = NULL;
	char missing[512];
	size_t n = 0;
	int rc = -1;

	given = answers_json(f, fw->has_form_data ? fw->form_data.data : NULL, fw->form_data.len);
	if (given == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "form_data",
		            "the form data does not decode as a %s form", f->name);
		return -1;
	}
	if (pf != NULL && parent->has_form_data &&
	    (earlier = protobuf_c_message_unpack(pf->desc, NULL, parent->form_data.len,
	                                         parent->form_data.data)) != NULL) {
		src[n++].msg = earlier;
	}
	src[n++].msg = &parent->client->base;
	merged = prefill(f->desc, given, src, n);
	if (merged != NULL && prefill_missing(f->desc, merged, missing, sizeof(missing)) > 0) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "form_data",
		            "still missing: %s (the rest is filled in from referral %s and the "
		            "client record)",
		            missing, parent->id);
	} else if (merged == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
	} else if ((m = pbjson_decode(f->desc, merged, &err)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "form_data",
		            "the filled-in form does not decode: %s: %s", err.path, err.message);
	} else if ((out->data = malloc(protobuf_c_message_get_packed_size(m) + 1)) != NULL) {
		out->len = protobuf_c_message_pack(m, out->data);
		rc = 0;
	} else {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
	}
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if (earlier != NULL) {
		protobuf_c_message_free_unpacked(earlier, NULL);
	}
	json_decref(given);
	json_decref(merged);
	return rc;
}

/* A forward waiting for the read of its parent (and of the stored client it shares). */
struct pending_forward {
	struct party_read pr;
	Refex__Request *msg; /* a copy: the handler's is freed once it returns */
	struct submit_client_read client;
};

/* Read the stored client the parent shares, with the parent. */
static void forward_read_client(struct store *st, struct party_read *pr)
{
	struct pending_forward *pf = (struct pending_forward *)pr;

	if (pr->ref->client_id != NULL) {
		submit_client_read(st, &pf->client, pr->ref->client_id,
		                   session_identity(pr->rq.s)->agency, pf->msg->forward->to);
	}
}

/* Refer parent's client on as pf's request asks. */
static void forward_then(struct party_read *pr, Refex__Referral *parent, enum party who)
{
	struct pending_forward *pf = (struct pending_forward *)pr;
	Refex__ForwardReferral *fw = pf->msg->forward;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	ProtobufCBinaryData answers = {0};
	struct store_idem idem = request_key_idem(&pr->key);
	struct request *rq = &pr->rq;
	const struct form *f;

	if (forward_allowed(rq, parent, who) < 0) {
		return;
	}
	/* The new referral is on a live form; the parent's may be retired, or an old version. */
	if ((f = request_live_form(rq, fw->form, "form")) == NULL ||
	    forward_answers(rq, fw, f, parent, &answers) < 0) {
		return;
	}
	sub.to = fw->to;
	sub.form = fw->form;
	sub.has_form_version = fw->has_form_version;
	sub.form_version = fw->form_version;
	sub.has_form_data = 1;
	sub.form_data = answers;
	sub.client = parent->client;
	sub.consent = fw->consent;
	/* The new referral's log line names it; the parent is in the store. */
	rq->referral[0] = '\0';
	submit_referral(rq, &sub, &idem, parent, &pf->client);
	if (sub.consent != fw->consent) {
		/* A copy of the stored client's consent row, made for this referral. */
		protobuf_c_message_free_unpacked(&sub.consent->base, NULL);
	}
	free(answers.data);
}

static void forward_fini(struct party_read *pr)
{
	struct pending_forward *pf = (struct pending_forward *)pr;

	submit_client_read_free(&pf->client);
	refex__request__free_unpacked(pf->msg, NULL);
}

/* Refer the client of a referral sent to the caller's agency on to another agency. */
void handle_forward(struct request *rq, Refex__Request *msg)
{
	Refex__ForwardReferral *fw = msg->forward;
	uint8_t digest[STORE_DIGEST_LEN];
	struct store_idem idem;
	struct pending_forward *pf;

	/* The key is looked up with the parent's read, off the loop. */
	if (request_idem(rq, msg, &fw->base, &idem, digest) < 0 ||
	    (pf = (struct pending_forward *)party_read_keep(rq, fw->referral_id, sizeof(*pf))) ==
	        NULL) {
		return;
	}
	submit_client_read_init(&pf->client);
	if ((pf->msg = request_copy(msg)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		request_release(&pf->pr.rq);
		return;
	}
	pf->pr.fini = forward_fini;
	pf->pr.more = forward_read_client;
	party_read_key(&pf->pr, &idem, true);
	party_read_start(&pf->pr, forward_then);
}
