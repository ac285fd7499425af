/**
 * The dead-letter record: a parked message keeps its data (a per-target
 * envelope when the relay got that far, else the original bytes) and gains
 * `relay-dl-*` attributes saying why, so an operator can list, show and
 * replay it.
 */
import { PARK_REASONS } from '../forward/policy.js';

export const DL_PREFIX = 'relay-dl-';

/** Every reason the relay parks a message for, as `relay-dl-reason` carries it. */
export const DEAD_LETTER_REASONS = [
  /**
   * From the delivery policy (forward/policy.ts): `target_rejected` (a status no retry can change, 4xx or 501;
   * `relay-dl-status` has it), `target_invalid_response` (not sent again: the target may have acted),
   * `request_not_sendable` (a header HTTP does not allow, a path or headers over forward/limits.ts).
   */
  ...PARK_REASONS,
  /** The message is not a valid relay envelope. */
  'invalid_envelope',
  'unknown_route',
  'unknown_schedule',
  'unknown_target',
  /** A message without data from a topic no `topics` entry maps. */
  'unknown_source',
] as const;

export type DeadLetterReasonCode = (typeof DEAD_LETTER_REASONS)[number];

export interface DeadLetterReason {
  /** Stable reason code, one of {@link DEAD_LETTER_REASONS}. */
  reason: DeadLetterReasonCode;
  /** One line for humans. */
  detail: string;
  /** The target's last status, if it answered. */
  status?: number;
  /** Attempts made by the relay in this delivery. */
  attempts?: number;
  target?: string;
  route?: string;
  /** Topic the message should go back to on replay. */
  replayTopic: string;
  sourceTopic?: string;
  messageId: string;
}

export interface DeadLetterInfo extends Omit<DeadLetterReason, 'reason' | 'status' | 'attempts'> {
  /** As parked: one of {@link DEAD_LETTER_REASONS}, or whatever an older relay (or `unknown`) wrote. */
  reason: string;
  status?: number;
  attempts?: number;
  /** When it was parked (ISO 8601). */
  at: string;
}

/** Pub/Sub limits: attributes per message, and bytes per attribute value. */
export const MAX_ATTRIBUTES = 100;
export const MAX_ATTRIBUTE_VALUE_BYTES = 1024;

/** `value` cut to at most `maxBytes` of UTF-8, never in the middle of a character. */
export function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  let bytes = 0;
  let end = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return value.slice(0, end);
}

/**
 * Attributes of a dead-lettered copy: the original attributes (minus older
 * relay-dl-*) plus the reason, within Pub/Sub's limits (100 attributes, 1024
 * bytes per value), or parking would fail and the message loop forever. The
 * relay's own attributes win; original ones that do not fit are dropped and
 * counted in `relay-dl-dropped-attributes`.
 */
export function deadLetterAttributes(original: Record<string, string>, why: DeadLetterReason, at: Date): Record<string, string> {
  const own: Record<string, string> = {};
  const add = (key: string, value: string | number | undefined) => {
    if (value !== undefined) own[DL_PREFIX + key] = truncateUtf8(String(value), MAX_ATTRIBUTE_VALUE_BYTES);
  };
  add('reason', why.reason);
  add('detail', why.detail);
  add('status', why.status);
  add('attempts', why.attempts);
  add('target', why.target);
  add('route', why.route);
  add('replay-topic', why.replayTopic);
  add('source-topic', why.sourceTopic);
  add('message-id', why.messageId);
  add('at', at.toISOString());
  const kept = Object.entries(original).filter(([k]) => !k.startsWith(DL_PREFIX));
  let room = MAX_ATTRIBUTES - Object.keys(own).length;
  if (kept.length > room) room--; // one more for the dropped count
  const out: Record<string, string> = {};
  for (const [k, v] of kept.slice(0, Math.max(0, room))) out[k] = truncateUtf8(v, MAX_ATTRIBUTE_VALUE_BYTES);
  if (kept.length > room) own[DL_PREFIX + 'dropped-attributes'] = String(kept.length - room);
  return { ...out, ...own };
}

/** Reads the reason back from a dead-lettered message's attributes. */
export function readDeadLetter(attributes: Record<string, string>): DeadLetterInfo {
  const get = (key: string) => attributes[DL_PREFIX + key];
  const num = (key: string) => (get(key) === undefined ? undefined : Number(get(key)));
  return {
    reason: get('reason') ?? 'unknown',
    detail: get('detail') ?? '',
    status: num('status'),
    attempts: num('attempts'),
    target: get('target'),
    route: get('route'),
    replayTopic: get('replay-topic') ?? '',
    sourceTopic: get('source-topic'),
    messageId: get('message-id') ?? '',
    at: get('at') ?? '',
  };
}

/** The attributes a replayed message is published with: the dead-letter ones removed, a replay mark added. */
export function replayAttributes(attributes: Record<string, string>, replayedAt: Date): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) if (!k.startsWith(DL_PREFIX) && !k.startsWith('CloudPubSubDeadLetterSource')) out[k] = v;
  out['relay-replayed-at'] = replayedAt.toISOString();
  return out;
}
