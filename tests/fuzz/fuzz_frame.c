/* Fuzz the frame decoder (proto/frame.c): walk the input as a stream of frames, as a session
 * does, and check frame_parse's promises at every step. */
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check what frame_parse says about the frame at the start of buf (avail bytes). */
static enum frame_result check_one(const uint8_t *buf, size_t avail, size_t max, size_t *len)
{
	enum frame_result r = frame_parse(buf, avail, max, len);
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t prefix_len;

	if (avail < FRAME_HEADER_LEN) {
		FUZZ_CHECK(r == FRAME_NEED_MORE);
		return r;
	}
	/* The length is judged from the header alone, before the payload arrives. */
	FUZZ_CHECK(frame_parse(buf, FRAME_HEADER_LEN, max, &prefix_len) ==
	           (r == FRAME_BAD ? FRAME_BAD : FRAME_NEED_MORE));
	FUZZ_CHECK(prefix_len == *len);
	frame_put_header(hdr, (uint32_t)*len);
	FUZZ_CHECK(memcmp(hdr, buf, FRAME_HEADER_LEN) == 0);
	switch (r) {
	case FRAME_BAD:
		FUZZ_CHECK(*len == 0 || *len > max);
		break;
	case FRAME_NEED_MORE:
		FUZZ_CHECK(*len >= 1 && *len <= max && avail - FRAME_HEADER_LEN < *len);
		break;
	case FRAME_OK:
		FUZZ_CHECK(*len >= 1 && *len <= max && avail - FRAME_HEADER_LEN >= *len);
		/* One byte short is never a frame. */
		FUZZ_CHECK(frame_parse(buf, FRAME_HEADER_LEN + *len - 1, max, &prefix_len) ==
		           FRAME_NEED_MORE);
		break;
	default:
		FUZZ_CHECK(r == FRAME_BAD || r == FRAME_NEED_MORE || r == FRAME_OK);
	}
	return r;
}

/* The first byte picks the limit; the rest is a stream of frames. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = {1, 16, 4096, FRAME_MAX_DEFAULT, UINT32_MAX};
	size_t max, off = 0, len = 0;

	if (size < 1) {
		return 0;
	}
	max = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
	data++;
	size--;
	while (check_one(data + off, size - off, max, &len) == FRAME_OK) {
		off += FRAME_HEADER_LEN + len;
	}
	return 0;
}
