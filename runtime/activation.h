/*
 * The AEP activation view: `ev.activation`, built from a decoded event body.
 *
 * Adobe Experience Platform's Azure Event Hubs destination sends one JSON object per
 * profile whenever, for that profile, a mapped audience changes status (it qualifies:
 * "realized", or leaves: "exited"), its identity map changes, or a mapped attribute is
 * updated. The payload lists every audience the profile holds (also unmapped ones with
 * the same merge policy), most of them unchanged ("existing"). So a handler acts on
 * `realized` and `exited`; `existing` only says the profile is still a member.
 * (reference/aep-rudderstack-payloads.md section 1; docs/json.md "Activation view".)
 *
 * The view, present when the body is a JSON object holding `segmentMembership` or
 * `identityMap`:
 *   segments    array sorted by id (then namespace) of { id, namespace, status,
 *               lastQualificationTime (as sent), qualifiedAt (epoch seconds, integer),
 *               name, createdAt, updatedAt, mappingCreatedAt, mappingUpdatedAt } (fields
 *               other than id/namespace only when sent and not null; status only when a
 *               string; unknown statuses are kept here and listed nowhere else)
 *   realized, existing, exited   arrays of segment ids with that status, sorted
 *   identities  { namespace = { id, ... } } from identityMap, ids in the order sent
 *   attributes  every other top-level field of the body (the same values, not copies); {}
 *               when none
 * Every array in the view carries the JSON array metatable, so the view encodes back to
 * JSON with [] for empty lists.
 *
 * Thread safety: works only on the given lua_State.
 */
#ifndef HF_ACTIVATION_H
#define HF_ACTIVATION_H

#include <stddef.h>

#include <lua.h>

/*
 * Given the decoded body at body_idx, pushes the activation view table and returns 1,
 * or pushes nothing and returns 0 when the body is not a table holding segmentMembership
 * or identityMap. Odd shapes (ups not an object, missing or unknown statuses, identityMap
 * entries that are not arrays, ids that are not strings, other namespaces than "ups")
 * are handled as docs/json.md describes. Runs protected: never raises a Lua error (out of
 * memory gives 0).
 */
int hf_activation_push(lua_State *L, int body_idx);

/*
 * The same view built straight from the JSON text buf[0..len), without decoding the body
 * into tables: pushes the view and returns 1; returns 0 (nothing pushed) when the text is
 * not an activation (not an object with those keys, or not JSON at all: a quick
 * structural look decides most of these without checking the JSON); returns -1 (nothing
 * pushed) when it holds an activation key but is not valid JSON, with the decoder's
 * message in err. Whenever the text is valid JSON the result equals what
 * hf_activation_push gives for hf_json_decode's body (tests and the fuzzer check this).
 * It costs one pass and the view's tables only: for handlers that read ev.activation and
 * never ev.body, the host decodes the body only when it is read (lua_event.c) and skips
 * most of the work. Never raises (out of memory gives 0).
 */
int hf_activation_push_json(lua_State *L, const char *buf, size_t len, char *err,
                            size_t errsz);

/*
 * hf_activation_push_json for the Lua string at text_idx. The view's identities and
 * attributes are then built from that string on first read (and by pairs and the JSON
 * encoder, through the lazy tables of lua_lazy.c), so a handler that reads only the segments
 * never pays for them; the text is checked in full either way.
 */
int hf_activation_push_text(lua_State *L, int text_idx, char *err, size_t errsz);

/*
 * Parses an ISO 8601 date-time such as "2022-01-11T21:24:39Z",
 * "2019-04-15T02:41:50+0000", "2019-04-15T02:41:50.123+02:00" (every form of
 * hf_time_parse_exact, datetime.h) into seconds since the epoch (fraction dropped). A
 * missing zone means UTC. Returns 0, or -1 when s is not such a timestamp.
 */
int hf_activation_parse_time(const char *s, size_t len, long long *epoch);

#endif
