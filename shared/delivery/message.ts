/**
 * A Pub/Sub message as the `pubsub` function sees it, whichever way it came:
 * a converted CloudEvent, or a raw push body the framework left unconverted.
 */
export interface PubSubMessage {
  data: Buffer;
  attributes: Record<string, string>;
  messageId: string;
  publishTime?: string;
  /** Short topic name, when known (converted CloudEvents carry it). */
  topic?: string;
  /** Short subscription name, when known (raw push bodies carry it). */
  subscription?: string;
}

/** The last path segment of `projects/P/topics/T` or `projects/P/subscriptions/S`. */
export function shortName(resource: string | undefined): string | undefined {
  if (!resource) return undefined;
  const match = /(?:topics|subscriptions)\/([^/?]+)/.exec(resource);
  return match ? match[1] : resource;
}

interface RawPush {
  data?: unknown;
  attributes?: unknown;
  messageId?: unknown;
  message_id?: unknown;
  publishTime?: unknown;
  publish_time?: unknown;
}

function toAttributes(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/**
 * Reads the message out of what the framework hands a CloudEvent function:
 * `{source, data: {message: {...}, subscription}}` for a messagePublished
 * CloudEvent, or `{subscription, message}` for a raw push (attribute-only
 * messages are not converted). Returns undefined for anything else.
 */
export function messageFromEvent(event: unknown): PubSubMessage | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const e = event as Record<string, unknown>;
  let raw: RawPush | undefined;
  let topic: string | undefined;
  let subscription: string | undefined;
  const data = e.data as Record<string, unknown> | undefined;
  if (data && typeof data === 'object' && data.message && typeof data.message === 'object') {
    raw = data.message as RawPush;
    subscription = shortName(typeof data.subscription === 'string' ? data.subscription : undefined);
    topic = shortName(typeof e.source === 'string' ? e.source : undefined);
  } else if (e.message && typeof e.message === 'object') {
    raw = e.message as RawPush;
    subscription = shortName(typeof e.subscription === 'string' ? e.subscription : undefined);
  }
  if (!raw) return undefined;
  const id = raw.messageId ?? raw.message_id ?? (typeof e.id === 'string' ? e.id : undefined);
  if (typeof id !== 'string' || id === '') return undefined;
  const publishTime = raw.publishTime ?? raw.publish_time;
  return {
    data: typeof raw.data === 'string' ? Buffer.from(raw.data, 'base64') : Buffer.alloc(0),
    attributes: toAttributes(raw.attributes),
    messageId: id,
    publishTime: typeof publishTime === 'string' ? publishTime : undefined,
    topic,
    subscription,
  };
}
