/* Idempotency keys and backoff for the client's retries (cmd_call_change uses them). */
#ifndef REFEX_RETRY_H
#define REFEX_RETRY_H

#define RETRY_KEY_MAX 64 /* the longest key the hub keeps */

/* Say whether key is 1-64 printable ASCII characters, as the hub takes. */
int retry_key_is_valid(const char *key);

/* Write a new random key (32 hex characters) into key. Returns 0, or -1 without randomness. */
int retry_key_make(char key[RETRY_KEY_MAX + 1]);

/* Return ms give or take a fifth, at random. */
unsigned retry_jitter(unsigned ms);

#endif
