/* Length framing: find one whole frame at the start of a buffer, or say why not. */
#include "frame.h"

/* Check the start of buf for one complete frame without copying or allocating. */
enum frame_result frame_parse(const uint8_t *buf, size_t avail, size_t max_frame,
                              size_t *payload_len)
{
	uint32_t len;

	if (avail < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
	      (uint32_t)buf[3];
	*payload_len = len;
	/* Judge the length before any payload arrives, so a peer cannot make us
	 * wait for (or buffer) a frame we would refuse anyway. */
	if (len == 0 || len > max_frame)
		return FRAME_BAD;
	if (avail - FRAME_HEADER_LEN < len)
		return FRAME_NEED_MORE;
	return FRAME_OK;
}

/* Write the big-endian length header for a payload of len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}
