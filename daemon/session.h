/* One partner connection: TLS handshake, framing, dispatch and replies. */
#ifndef REFEX_SESSION_H
#define REFEX_SESSION_H

#include <event2/bufferevent.h>
#include <event2/util.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hub.h"
#include "identity.h"
#include "refex.pb-c.h"

/* Take over a socket accepted from sa (after addr_budget_make_room) and start its TLS handshake
 * once the peer begins it. Returns NULL on failure (fd closed). */
struct session *session_new(struct hub *hub, evutil_socket_t fd, const struct sockaddr *sa);

/* Take over bev, a connection secured by other means (the HTTPS door's pair, tests, fuzzing), as an
 * open session of peer who, and start reading. The caller holds a reference (session_unref it);
 * NULL on failure (bev freed). */
struct session *session_new_open(struct hub *hub, struct bufferevent *bev,
                                 const struct identity *who);

/* Make tls, a TLS connection whose certificate vouches for s (an HTTPS door's), the one a reload
 * checks again (session_recheck_all) instead of s's own transport. tls must outlive s's session
 * (close s first). */
void session_set_vouch(struct session *s, struct bufferevent *tls);

/* Hold a reference across an asynchronous operation. */
void session_ref(struct session *s);

/* Drop a reference; the session is freed when the last one goes. */
void session_unref(struct session *s);

/* Say whether replies can still be sent on s. */
bool session_is_open(const struct session *s);

/* Return the hub s belongs to. */
struct hub *session_hub(const struct session *s);

/* Return the connection id used in logs. */
uint64_t session_id(const struct session *s);

/* Return the verified identity of the peer (valid once the handshake is done). */
const struct identity *session_identity(const struct session *s);

/* Say whether the peer has said Hello. */
bool session_is_greeted(const struct session *s);

/* Record that the peer said Hello: it now receives pushed events for its agency. */
void session_set_greeted(struct session *s);

/* Count a request waiting for an asynchronous write; past SESSION_INFLIGHT_MAX the session
 * stops reading, so a peer cannot queue writes faster than they commit. */
void session_request_begin(struct session *s);

/* Count a request answered (or dropped); reading resumes below half the limit. */
void session_request_end(struct session *s);

#define SESSION_INFLIGHT_MAX 64

/* Queue a response frame. */
void session_send_response(struct session *s, const Refex__Response *resp);

/* Queue a response frame made of head (id and status) followed by tail, the packed bytes of a
 * Response holding only its body (protobuf merges the two, as if packed together). */
void session_send_response_tail(struct session *s, const Refex__Response *head, const uint8_t *tail,
                                size_t tail_len);

/* Return the next greeted session of the same agency (hub->by_agency), or NULL. */
struct session *session_next_peer(const struct session *s);

/* Queue an event frame. */
void session_send_event(struct session *s, const Refex__Event *ev);

/* Say whether s has as much output queued as it should (an event pump waits for it to drain). */
bool session_output_busy(const struct session *s);

/* Make s a watcher whose next event is seq next (see watch.h). */
void session_watch_from(struct session *s, uint64_t next);

/* Claim the read of s's events (watch.c): false, noting that events were asked for again, if
 * one is in flight. */
bool session_watch_read_begin(struct session *s);

/* End the read of s's events; say whether events were asked for meanwhile. */
bool session_watch_read_end(struct session *s);

/* Say whether s watches its agency's events (open or not); watchers lead hub->by_agency lists. */
bool session_is_watcher(const struct session *s);

/* Say whether s is an open watcher, with the next sequence number it should see in *next. */
bool session_watch_next(const struct session *s, uint64_t *next);

/* Close a session now (e.g. on shutdown). */
void session_close(struct session *s, const char *why);

/* Close every open session whose certificate no longer verifies against hub->tls (after a
 * reload: a revoked holder's connections end). Returns how many were closed. */
size_t session_recheck_all(struct hub *hub);

/* Point every session at its agency's index in cfg (a reloaded configuration) and put the
 * greeted ones in lists (one per cfg agency, initialised); a session whose agency cfg no
 * longer names gets index -1 and is left for session_close_unpartnered. Cannot fail. */
void session_rebind_all(struct hub *hub, const struct config *cfg, struct session_list *lists);

/* Close every open session whose agency left the partnership (after session_rebind_all and
 * the swap of hub->cfg). Returns how many were closed. */
size_t session_close_unpartnered(struct hub *hub);

/* Count the requests still waiting for their reply, and the bytes queued but not yet sent,
 * over every session (what a forced stop abandons). */
size_t session_unanswered_all(struct hub *hub, size_t *unsent_bytes);

/* Say whether every session has sent everything it queued. */
bool session_all_flushed(struct hub *hub);

/* Stop reading requests on every session (shutdown: finish what is in flight). */
void session_stop_reading_all(struct hub *hub);

#endif
