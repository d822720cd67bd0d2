/* Length framing: a 4-byte big-endian length N, then N bytes of one message. */
#ifndef REFEX_FRAME_H
#define REFEX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN  4
#define FRAME_MAX_DEFAULT (1024u * 1024u)

enum frame_result {
	FRAME_BAD = -1,      /* length 0 or above the maximum: drop the connection */
	FRAME_NEED_MORE = 0, /* not a whole frame yet: read more */
	FRAME_OK = 1,        /* one whole frame: header + *payload_len bytes */
};

/*
 * Look for one frame at the start of buf, which holds avail bytes.
 * Pure: reads at most FRAME_HEADER_LEN bytes of buf and allocates nothing.
 * A length of 0 or above max_frame is FRAME_BAD as soon as the header is
 * complete, before any payload arrives. On FRAME_BAD and FRAME_OK,
 * *payload_len holds the announced length.
 */
enum frame_result frame_parse(const uint8_t *buf, size_t avail, size_t max_frame,
			      size_t *payload_len);

/* Write the header announcing a payload of len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len);

#endif
