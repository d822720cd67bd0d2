/*
 * Referral ids: time-ordered and unguessable, made without the database.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"

/* Copy n random bytes from a per-thread pool: OpenSSL 3.0 makes a getpid() syscall and takes
 * locks on every RAND_bytes call, which is too much once per submission. */
static void random_take(unsigned char *out, size_t n)
{
	static _Thread_local unsigned char pool[4096];
	static _Thread_local size_t used = sizeof(pool);

	if (used + n > sizeof(pool)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1) {
			fatalx("msg=\"no random bytes for a referral id\"");
		}
		used = 0;
	}
	memcpy(out, pool + used, n);
	OPENSSL_cleanse(pool + used, n); /* an id's random part is never handed out twice */
	used += n;
}

/* Fill id (STORE_ID_LEN + 1 bytes) with a new, unguessable, time-ordered referral id. */
void store_new_id(char *id)
{
	static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char b[STORE_ID_LEN * 5 / 8];
	struct timespec now;
	uint64_t ms;

	/* 48 bits of milliseconds, then 32 random bits: new ids land at the right edge of the id
	 * index (one hot page) instead of a random leaf each, and sort by creation time. */
	clock_gettime(CLOCK_REALTIME, &now);
	ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	for (int i = 0; i < 6; i++) {
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	}
	random_take(b + 6, sizeof(b) - 6);
	for (int i = 0; i < STORE_ID_LEN; i++) {
		int bit = i * 5, byte = bit / 8;
		unsigned v = (unsigned)b[byte] << 8 | (byte + 1 < (int)sizeof(b) ? b[byte + 1] : 0);

		id[i] = crockford[(v >> (11 - bit % 8)) & 31];
	}
	id[STORE_ID_LEN] = '\0';
}
