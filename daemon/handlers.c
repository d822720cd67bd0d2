/* Request handlers: one function per request type, registered in one table. */
#include "handlers.h"

#include <openssl/evp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers_client.h"
#include "handlers_private.h"
#include "log.h"
#include "metrics.h"
#include "page_cache.h"
#include "pbcheck.h"
#include "pbjson.h"
#include "watch.h"

#define REFEXD_SERVER "refexd/" REFEX_VERSION

typedef void (*handler_fn)(struct request *rq, Refex__Request *msg);

static double request_ms(const struct request *rq)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - rq->start.tv_sec) * 1e3 +
	       (double)(now.tv_nsec - rq->start.tv_nsec) / 1e6;
}

static const char *status_name(Refex__StatusCode code)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&refex__status_code__descriptor, (int)code);

	return v ? v->name + strlen("STATUS_") : "unknown";
}

static void request_log(const struct request *rq, Refex__StatusCode code)
{
	metrics_request(rq->type, code);
	log_info("conn=%llu agency=%s req=%llu type=%s status=%s ms=%.3f referral=%s",
	         (unsigned long long)session_id(rq->s), session_identity(rq->s)->agency,
	         (unsigned long long)rq->id, rq->type, status_name(code), request_ms(rq),
	         rq->referral[0] ? rq->referral : "-");
}

/* Send resp (status OK unless it has one) for rq and log it. */
void reply(struct request *rq, Refex__Response *resp)
{
	Refex__Status ok = REFEX__STATUS__INIT;

	resp->has_id = 1;
	resp->id = rq->id;
	if (resp->status == NULL) {
		ok.has_code = 1;
		ok.code = REFEX__STATUS_CODE__STATUS_OK;
		resp->status = &ok;
	}
	if (session_is_open(rq->s)) {
		session_send_response(rq->s, resp);
	}
	request_log(rq, resp->status->code);
}

/* Refuse rq with a status code, the offending field (or NULL) and a message for people. The
 * field goes out by its JSON name, as the caseworker wrote it ("client.dateOfBirth"). */
void reply_error(struct request *rq, Refex__StatusCode code, const char *field, const char *fmt,
                 ...)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__Status st = REFEX__STATUS__INIT;
	char message[512], json_field[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	st.has_code = 1;
	st.code = code;
	st.message = message;
	if (field != NULL) {
		pbjson_json_path(field, json_field, sizeof(json_field));
		st.field = json_field;
	}
	r.status = &st;
	reply(rq, &r);
}

/* Answer rq with status OK and tail, the packed bytes of a Response holding only its body. */
void reply_tail(struct request *rq, const uint8_t *tail, size_t tail_len)
{
	Refex__Response head = REFEX__RESPONSE__INIT;
	Refex__Status ok = REFEX__STATUS__INIT;

	head.has_id = 1;
	head.id = rq->id;
	ok.has_code = 1;
	ok.code = REFEX__STATUS_CODE__STATUS_OK;
	head.status = &ok;
	if (session_is_open(rq->s)) {
		session_send_response_tail(rq->s, &head, tail, tail_len);
	}
	request_log(rq, ok.code);
}

/* Answer rq with a referral. */
void reply_referral(struct request *rq, Refex__Referral *ref)
{
	Refex__Response r = REFEX__RESPONSE__INIT;

	r.body_case = REFEX__RESPONSE__BODY_REFERRAL;
	r.referral = ref;
	reply(rq, &r);
}

/* Copy rq into an allocation of size bytes that holds the session until request_release. */
struct request *request_keep(const struct request *rq, size_t size)
{
	struct request *kept = malloc(size);

	if (kept != NULL) {
		memset(kept, 0, size);
		*kept = *rq;
		session_ref(rq->s);
		session_request_begin(rq->s);
	}
	return kept;
}

/* Keep rq in a zeroed allocation of size bytes (a struct starting with a struct request) for a
 * read through store_read_async; out of memory: answer rq UNAVAILABLE and return NULL. */
void *request_keep_for_read(struct request *rq, size_t size)
{
	struct request *kept = request_keep(rq, size);

	if (kept == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
	}
	return kept;
}

/* Release what request_keep took. */
void request_release(struct request *rq)
{
	session_request_end(rq->s);
	session_unref(rq->s);
	free(rq);
}

/* Say whether s is NULL, empty or only white space. */
bool is_blank(const char *s)
{
	return s == NULL || s[strspn(s, " \t\r\n")] == '\0';
}

static bool key_is_valid(const char *key)
{
	size_t n = strlen(key);

	if (n < 1 || n > STORE_KEY_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (key[i] < 0x21 || key[i] > 0x7e) {
			return false;
		}
	}
	return true;
}

/* Check msg's idempotency key and fill idem from body's content; answer a bad key, return -1. */
int request_idem(struct request *rq, const Refex__Request *msg, const ProtobufCMessage *body,
                 struct store_idem *idem, uint8_t *digest)
{
	size_t n = protobuf_c_message_get_packed_size(body);
	uint8_t *packed;
	int rc;

	*idem = (struct store_idem){0};
	if (msg->idempotency_key == NULL) {
		return 0;
	}
	if (!key_is_valid(msg->idempotency_key)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "idempotency_key",
		            "an idempotency key is 1-%d printable ASCII characters without spaces",
		            STORE_KEY_MAX);
		return -1;
	}
	/* The request type, then the body as protobuf-c packs it again: the same request always
	 * digests the same, and different types never do, whatever their bodies pack to. */
	if ((packed = malloc(n + 1)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		return -1;
	}
	packed[0] = (uint8_t)msg->body_case;
	protobuf_c_message_pack(body, packed + 1);
	rc = EVP_Digest(packed, n + 1, digest, NULL, EVP_sha256(), NULL);
	free(packed);
	if (rc != 1) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the request cannot be checked right now; please try again");
		return -1;
	}
	idem->key = msg->idempotency_key;
	idem->digest = digest;
	return 0;
}

/* A referral's summary (no client, consent, form data or history), sharing ref's strings. */
Refex__Referral referral_summary(const Refex__Referral *ref)
{
	Refex__Referral sum = *ref;

	sum.client = NULL;
	sum.consent = NULL;
	sum.has_form_data = 0;
	sum.form_data.len = 0;
	sum.form_data.data = NULL;
	sum.n_history = 0;
	sum.history = NULL;
	return sum;
}

/* Refuse rq: its idempotency key was used for another request. */
void reply_key_reused(struct request *rq)
{
	reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "idempotency_key",
	            "this idempotency key was already used for a different request");
}

/* A referral being read to answer with. */
struct pending_first {
	struct request rq;
	bool summary;
	bool annotate;
	const char *unavailable; /* a string literal */
	Refex__Referral *ref;
};

static enum store_status first_read(struct store *st, void *arg)
{
	struct pending_first *pf = arg;

	return store_get(st, pf->rq.referral, &pf->ref);
}

static void first_done(enum store_status status, void *arg)
{
	struct pending_first *pf = arg;
	Refex__Referral sum;

	if (status != STORE_OK) {
		reply_error(&pf->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "%s",
		            pf->unavailable);
	} else {
		if (pf->annotate && session_is_open(pf->rq.s)) {
			referral_client_annotate(&pf->rq, pf->ref);
		}
		sum = referral_summary(pf->ref);
		reply_referral(&pf->rq, pf->summary ? &sum : pf->ref);
	}
	store_referral_free(pf->ref);
	request_release(&pf->rq);
}

/* Answer rq with referral id as it is read now (its summary if asked; annotate: audit the read
 * of its stored client), or UNAVAILABLE with the message unavailable (a string literal). */
void reply_referral_read(struct request *rq, const char *id, bool summary, bool annotate,
                         const char *unavailable)
{
	struct pending_first *pf;

	if (id != rq->referral) {
		snprintf(rq->referral, sizeof(rq->referral), "%s", id);
	}
	if ((pf = request_keep_for_read(rq, sizeof(*pf))) != NULL) {
		pf->summary = summary;
		pf->annotate = annotate;
		pf->unavailable = unavailable;
		store_read_async(rq->hub->store, first_read, first_done, pf);
	}
}

/* Answer a repeated request with the referral its first attempt wrote (its summary if asked). */
void reply_first(struct request *rq, const char *first, bool summary)
{
	reply_referral_read(rq, first, summary, false,
	                    "the referral cannot be read right now; please try again");
}

/* Answer rq if the look-up of its idempotency key (status st, first: the referral its first
 * attempt wrote) found it used before, and say so; STORE_NOT_FOUND: false, carry on. */
bool request_repeat_reply(struct request *rq, enum store_status st, const char *first, bool summary)
{
	if (st == STORE_NOT_FOUND) {
		return false;
	}
	if (st == STORE_KEY_REUSED) {
		reply_key_reused(rq);
	} else if (st != STORE_OK) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the request cannot be checked right now; please try again");
	} else {
		reply_first(rq, first, summary);
	}
	return true;
}

/* Keep idem in k, a repeat to be answered with its summary if summary. */
void request_key_keep(struct request_key *k, const struct store_idem *idem, bool summary)
{
	k->keyed = idem->key != NULL;
	k->summary = summary;
	k->status = k->keyed ? STORE_UNAVAILABLE : STORE_NOT_FOUND;
	if (k->keyed) {
		snprintf(k->key, sizeof(k->key), "%s", idem->key);
		memcpy(k->digest, idem->digest, STORE_DIGEST_LEN);
	}
}

/* Look k up as agency's and say whether the request is answered from it (a repeat, another
 * request's key, or a look-up that failed). A retry of a write that has committed must get the
 * first answer, whatever has changed since (a referral moved on, a partner's forms reloaded);
 * a retry racing its uncommitted first attempt is caught by the store. */
bool request_key_find(struct store *st, struct request_key *k, const char *agency)
{
	if (k->keyed) {
		k->status =
		    store_idem_find(st, agency, &(struct store_idem){k->key, k->digest}, k->first);
	}
	return k->status != STORE_NOT_FOUND;
}

/* The store_idem of k for a write. */
struct store_idem request_key_idem(struct request_key *k)
{
	return k->keyed ? (struct store_idem){.key = k->key, .digest = k->digest}
	                : (struct store_idem){0};
}

/* Copy msg for a request kept beyond its handler; NULL: out of memory. */
Refex__Request *request_copy(const Refex__Request *msg)
{
	size_t n = refex__request__get_packed_size(msg);
	uint8_t *packed = malloc(n + 1);
	Refex__Request *copy = NULL;

	if (packed != NULL) {
		refex__request__pack(msg, packed);
		copy = refex__request__unpack(NULL, n, packed);
		free(packed);
	}
	return copy;
}

/* Tell both parties' page cache and watchers that a write changed their referrals, and the
 * original sender's page cache that an onward referral it lists changed. */
void notify_parties(struct hub *hub, const struct store_result *res, const char *sender,
                    const char *recipient, const char *origin)
{
	page_cache_bump(hub->pages, sender);
	page_cache_bump(hub->pages, recipient);
	if (origin != NULL && *origin != '\0') {
		page_cache_bump(hub->pages, origin);
	}
	if (res->sender_seq > 0) {
		watch_notify(hub, sender);
	}
	if (res->recipient_seq > 0 && strcmp(sender, recipient) != 0) {
		watch_notify(hub, recipient);
	}
}

/* Say which protocol version and limits this server has, and who the peer is. */
static void handle_hello(struct request *rq, Refex__Request *msg)
{
	const struct identity *who = session_identity(rq->s);
	const struct config *cfg = rq->hub->cfg;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__HelloReply hello = REFEX__HELLO_REPLY__INIT;
	Refex__Limits limits = REFEX__LIMITS__INIT;
	uint32_t version = msg->hello->protocol_version;

	if (!msg->hello->has_protocol_version) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "hello.protocol_version",
		            "protocol_version is required");
		return;
	}
	if (version != REFEX__PROTOCOL__PROTOCOL_VERSION) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, "hello.protocol_version",
		            "protocol version %u is not supported; this server speaks version %d",
		            version, REFEX__PROTOCOL__PROTOCOL_VERSION);
		return;
	}
	session_set_greeted(rq->s);
	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	hello.agency = (char *)who->agency;
	hello.holder = (char *)who->holder;
	hello.agency_name = config_agency(cfg, who->agency)->name;
	hello.server = REFEXD_SERVER;
	limits.has_max_frame = limits.has_idle_timeout_s = limits.has_page_size_max = 1;
	limits.max_frame = cfg->limits.max_frame;
	limits.idle_timeout_s = cfg->limits.idle_timeout;
	limits.page_size_max = cfg->limits.max_page_size;
	hello.limits = &limits;
	/* The CRL in force, so that partners can refuse a hub whose own key was stolen. */
	if (rq->hub->crl_der != NULL) {
		hello.has_crl = 1;
		hello.crl.data = rq->hub->crl_der;
		hello.crl.len = rq->hub->crl_der_len;
	}
	hello.forms_digest = rq->hub->forms_digest;
	r.body_case = REFEX__RESPONSE__BODY_HELLO;
	r.hello = &hello;
	reply(rq, &r);
}

/* Name a field of a Request (path in JSON names from the Request, "submit.client.familyName")
 * relative to the request's body ("client.familyName"), as the caseworker's files name it and
 * every refusal does. */
const char *handlers_field_in_body(const char *path)
{
	const char *dot = strchr(path, '.');
	char first[PBJSON_NAME_CAP];
	const ProtobufCMessageDescriptor *d = &refex__request__descriptor;

	if (dot == NULL || (size_t)(dot - path) >= sizeof(first)) {
		return path;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			pbjson_json_name(d->fields[i].name, first);
			if (strlen(first) == (size_t)(dot - path) &&
			    strncmp(path, first, (size_t)(dot - path)) == 0) {
				return dot + 1;
			}
		}
	}
	return path;
}

/* Refuse a request holding an enum number the schema does not define (protobuf-c 1.4 unpack
 * keeps any): passed on, the receiver's tools would refuse the message. The field is named
 * relative to the request's body, as every other refusal names it. */
static bool request_bad_enum(struct request *rq, const Refex__Request *req)
{
	struct pbcheck_result res;
	const char *field;

	if (pbcheck_enums(&req->base, &res) == PBCHECK_OK) {
		return false;
	}
	field = handlers_field_in_body(res.path);
	reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, field, "%s: %s", field, res.message);
	return true;
}

static const struct handler {
	Refex__Request__BodyCase body;
	const char *name;
	handler_fn fn;
} handlers[] = {
    {REFEX__REQUEST__BODY_HELLO, "hello", handle_hello},
    {REFEX__REQUEST__BODY_SUBMIT, "submit", handle_submit},
    {REFEX__REQUEST__BODY_LIST_INBOX, "list_inbox", handle_list_inbox},
    {REFEX__REQUEST__BODY_LIST_SENT, "list_sent", handle_list_sent},
    {REFEX__REQUEST__BODY_GET, "get", handle_get},
    {REFEX__REQUEST__BODY_UPDATE, "update", handle_update},
    {REFEX__REQUEST__BODY_LIST_FORMS, "list_forms", handle_list_forms},
    {REFEX__REQUEST__BODY_GET_FORM_SCHEMA, "get_form_schema", handle_get_form_schema},
    {REFEX__REQUEST__BODY_LIST_PARTNERS, "list_partners", handle_list_partners},
    {REFEX__REQUEST__BODY_WATCH, "watch", handle_watch},
    {REFEX__REQUEST__BODY_AUDIT, "audit", handle_audit},
    {REFEX__REQUEST__BODY_FORWARD, "forward", handle_forward},
    {REFEX__REQUEST__BODY_ADD_CLIENT, "add_client", handle_add_client},
    {REFEX__REQUEST__BODY_UPDATE_CLIENT, "update_client", handle_update_client},
    {REFEX__REQUEST__BODY_GET_CLIENT, "get_client", handle_get_client},
    {REFEX__REQUEST__BODY_LIST_CLIENTS, "list_clients", handle_list_clients},
    {REFEX__REQUEST__BODY_ERASE_CLIENT, "erase_client", handle_erase_client},
    {REFEX__REQUEST__BODY_ADD_CONSENT, "add_consent", handle_add_consent},
    {REFEX__REQUEST__BODY_LIST_CONSENTS, "list_consents", handle_list_consents},
    {REFEX__REQUEST__BODY_WITHDRAW_CONSENT, "withdraw_consent", handle_withdraw_consent},
    {REFEX__REQUEST__BODY_REPORT, "report", handle_report},
};

/* Handle one decoded request from s; takes ownership of req. */
void handlers_dispatch(struct session *s, Refex__Request *req)
{
	struct request rq = {.s = s, .hub = session_hub(s), .id = req->id, .type = "unknown"};
	const struct handler *h = NULL;

	clock_gettime(CLOCK_MONOTONIC, &rq.start);
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].body == req->body_case) {
			h = &handlers[i];
		}
	}
	if (h != NULL) {
		rq.type = h->name;
	}
	if (h == NULL) {
		reply_error(&rq, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, NULL,
		            "unknown request type (this server speaks protocol version %d)",
		            REFEX__PROTOCOL__PROTOCOL_VERSION);
	} else if (!session_is_greeted(s) && h->fn != handle_hello) {
		reply_error(&rq, REFEX__STATUS_CODE__STATUS_INVALID, NULL,
		            "say Hello first: the first request on a connection must be Hello");
	} else if (!request_bad_enum(&rq, req)) {
		h->fn(&rq, req);
	}
	refex__request__free_unpacked(req, NULL);
}
