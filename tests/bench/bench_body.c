/* refex-bench request bodies: a referral per submission, with a client of its own, as protobuf
 * for the wire door or JSON for the HTTPS door's API. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "pbjson.h"
#include "refex.pb-c.h"

/* Names of everyday lengths (3 to 12 letters); with a date of birth they make 16 x 16 x 24,800
 * distinct clients before one repeats. */
static const char *const given_names[16] = {
    "Ada",    "Amira",   "Ben",       "Chloe", "Dmitri", "Esther",   "Fatima", "Gareth",
    "Hannah", "Ibrahim", "Josephine", "Kwame", "Li",     "Mohammed", "Nia",    "Oluwaseun"};
static const char *const family_names[16] = {
    "Ali",     "Brown", "Chowdhury", "Davies", "Evans",  "Fernandes", "Green",  "Hughes",
    "Ivanova", "Jones", "Kowalski",  "Lewis",  "Mensah", "Nowak",     "Okafor", "Patel"};
#define DOB_DAYS 24800 /* 1940-01-01 onwards, about 68 years */

/* Give client the name and date of birth of submission seq (dob: a buffer of 11). */
static void body_client(Refex__ClientRecord *client, uint64_t seq, char *dob)
{
	uint64_t day = (seq / 256) % DOB_DAYS;
	int y = 1940 + (int)(day / 365), d = (int)(day % 365);

	client->given_name = (char *)given_names[seq % 16];
	client->family_name = (char *)family_names[(seq / 16) % 16];
	snprintf(dob, 11, "%04d-%02d-%02d", y, d / 28 % 12 + 1, d % 28 + 1);
	client->date_of_birth = dob;
}

/* Fill sub, the referral of submission seq, with its client (in client, dob) unless it names a
 * stored one. */
static void body_submit(const struct bench *b, uint64_t seq, Refex__SubmitReferral *sub,
                        Refex__ClientRecord *client, Refex__Consent *consent, char *dob)
{
	consent->to_agency = (char *)b->o.to;
	consent->purpose = "benchmark";
	consent->method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	sub->to = (char *)b->o.to;
	sub->form = "housing_support";
	sub->has_form_data = 1;
	sub->form_data.data = b->form_data;
	sub->form_data.len = b->form_len;
	if (b->o.client_id != NULL) {
		sub->client_id = (char *)b->o.client_id;
		return;
	}
	if (b->o.same_client) {
		client->given_name = "Bench";
		client->family_name = "Client";
	} else {
		body_client(client, seq, dob);
	}
	sub->client = client;
	sub->consent = consent;
}

/* Make room for n bytes in b's scratch buffer. Returns it, or NULL. */
static uint8_t *body_scratch(struct bench *b, size_t n)
{
	if (n > b->scratch_cap) {
		uint8_t *grown = realloc(b->scratch, n);

		if (grown == NULL) {
			return NULL;
		}
		b->scratch = grown;
		b->scratch_cap = n;
	}
	return b->scratch;
}

/* Pack the form data every submission carries, and the inbox listing. */
int bench_bodies_build(struct bench *b)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__ListReferrals list = REFEX__LIST_REFERRALS__INIT;
	Refex__Request req = REFEX__REQUEST__INIT;
	size_t pad = b->o.size > 16 ? b->o.size - 16 : 1;
	char *needs = malloc(pad + 1);

	if (needs == NULL) {
		return -1;
	}
	memset(needs, 'x', pad);
	needs[pad] = '\0';
	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__AT_RISK_OF_EVICTION;
	form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED;
	form.support_needs = needs;
	b->form_data = malloc(refex__forms__housing_support__get_packed_size(&form) + 1);
	if (b->form_data != NULL) {
		b->form_len = refex__forms__housing_support__pack(&form, b->form_data);
	}
	free(needs);
	list.has_limit = 1;
	list.limit = 50;
	req.body_case = REFEX__REQUEST__BODY_LIST_INBOX;
	req.list_inbox = &list;
	b->inbox_len = refex__request__get_packed_size(&req);
	if ((b->inbox_body = malloc(b->inbox_len + 1)) != NULL) {
		refex__request__pack(&req, b->inbox_body);
	}
	return b->form_data != NULL && b->inbox_body != NULL ? 0 : -1;
}

/* Return submission seq as a packed Request without its id (in b's scratch buffer), or NULL. */
const uint8_t *bench_submit_packed(struct bench *b, uint64_t seq, size_t *len)
{
	Refex__ClientRecord client = REFEX__CLIENT_RECORD__INIT;
	Refex__Consent consent = REFEX__CONSENT__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	Refex__Request req = REFEX__REQUEST__INIT;
	uint8_t *buf;
	char dob[11];

	body_submit(b, seq, &sub, &client, &consent, dob);
	req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	req.submit = &sub;
	*len = refex__request__get_packed_size(&req);
	if ((buf = body_scratch(b, *len + 1)) == NULL) {
		return NULL;
	}
	refex__request__pack(&req, buf);
	return buf;
}

/* Write a keep-alive POST of body (JSON, taken over) to /api/v1/op into b's scratch buffer. */
static const char *body_api_post(struct bench *b, const char *op, json_t *body, size_t *len)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t n = text != NULL ? strlen(text) : 0, cap = n + 256 + strlen(b->host);
	char *buf = text != NULL ? (char *)body_scratch(b, cap) : NULL;
	int head;

	json_decref(body);
	if (buf == NULL) {
		free(text);
		return NULL;
	}
	head = snprintf(buf, cap,
	                "POST /api/v1/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	                "Content-Length: %zu\r\n\r\n",
	                op, b->host, n);
	memcpy(buf + head, text, n);
	*len = (size_t)head + n;
	free(text);
	return buf;
}

/* Return the API request for op (submit: submission seq) as a whole HTTP/1.1 request in b's
 * scratch buffer, or NULL. */
const char *bench_api_request(struct bench *b, enum bench_op op, uint64_t seq, size_t *len)
{
	Refex__ClientRecord client = REFEX__CLIENT_RECORD__INIT;
	Refex__Consent consent = REFEX__CONSENT__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	Refex__ListReferrals list = REFEX__LIST_REFERRALS__INIT;
	char dob[11];

	if (op == OP_INBOX) {
		list.has_limit = 1;
		list.limit = 50;
		return body_api_post(b, "list_inbox", pbjson_encode(&list.base), len);
	}
	body_submit(b, seq, &sub, &client, &consent, dob);
	return body_api_post(b, "submit", pbjson_encode(&sub.base), len);
}
