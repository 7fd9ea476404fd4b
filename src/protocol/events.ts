/** Every event of PROTOCOL.md §5–§6 and the shape of its `data`. */
import { z } from "zod";
import { bin, freeMap, id, identity, name, participant, roomName, text } from "./common.js";
import { DEFAULT_MAX_FRAME_BYTES, MAX_NAME_CHARS } from "./limits.js";

const leaveReason = z.enum(["closed", "expired", "kicked", "slow_consumer", "timeout", "node_lost", "draining"]);
export type LeaveReason = z.infer<typeof leaveReason>;

export const EVENTS = {
  "room.ready": z.strictObject({
    participant_id: id,
    identity,
    room: roomName,
    session_id: id,
    participants: z.array(participant),
  }),
  "participant.joined": z.strictObject({ participant }),
  "participant.left": z.strictObject({ participant_id: id, reason: leaveReason }),
  "participant.attributes": z.strictObject({ participant_id: id, attributes: freeMap }),
  "messaging.message": z.strictObject({
    from_participant_id: id,
    from_identity: identity,
    type: name,
    message: freeMap,
    attachment: bin(DEFAULT_MAX_FRAME_BYTES).optional(),
  }),
  "toolkits.call": z.strictObject({
    call_id: id,
    from_participant_id: id,
    from_identity: identity,
    toolkit: name,
    tool: name,
    arguments: freeMap,
    expires_at: z.number(),
  }),
  "secrets.request_secret": z.strictObject({
    request_id: id,
    from_participant_id: id,
    from_identity: identity,
    url: z.string(),
    type: z.string().max(MAX_NAME_CHARS),
    delegate_to: identity.optional(),
    prompt: text.optional(),
    expires_at: z.number(),
  }),
  "secrets.request_oauth_token": z.strictObject({
    request_id: id,
    from_participant_id: id,
    from_identity: identity,
    authorization_url: z.string(),
    client_id: z.string(),
    scopes: z.array(z.string()),
    redirect_uri: z.string(),
    expires_at: z.number(),
  }),
  "secrets.request_cancelled": z.strictObject({
    request_id: id,
    reason: z.enum(["timeout", "requester_left", "answered_elsewhere", "cancelled"]),
  }),
} as const;

export type EventName = keyof typeof EVENTS;
export type EventData<Ev extends EventName> = z.infer<(typeof EVENTS)[Ev]>;
