/**
 * The inspector's picture of the traffic, folded from nothing but the relay's
 * own JSON log lines (see shared/relay.ts, shared/forward/forward.ts,
 * shared/delivery/deliver.ts): requests the webhook function answered, and
 * the delivery attempts under each, joined on the idempotency key every
 * delivery line carries. Deliveries no request names (schedules, topics)
 * are listed on their own. Pure: lines in, a snapshot out.
 */
import { maskHeaders } from '../../../shared/traffic.js';

export interface Failure {
  attempt?: number;
  status?: number;
  reason?: string;
  latencyMs?: number;
  message: string;
}

export type DeliveryState = 'delivered' | 'rejected' | 'retrying' | 'failed' | 'dead-lettered';

export interface DeliveryView {
  idempotencyKey: string;
  target: string;
  /** `relay` for a synchronous route, `pubsub` for a delivery made by the pubsub function. */
  via: 'relay' | 'pubsub';
  state: DeliveryState;
  status?: number;
  /** Attempts made so far, over every Pub/Sub delivery of the message. */
  attempts: number;
  latencyMs?: number;
  sentHeaders?: Record<string, string>;
  bodyPreview?: string;
  bytes?: number;
  detail?: string;
  failures: Failure[];
  at: string;
}

export interface RequestView {
  id: number;
  at: string;
  route: string;
  method: string;
  status: number;
  /** forwarded, accepted (async), refused, dropped, duplicate, challenge, publish-failed. */
  verdict: string;
  detail?: string;
  latencyMs?: number;
  idempotencyKey?: string;
  headers?: Record<string, string>;
  bodyPreview?: string;
  bytes?: number;
  /** True when the line carried the whole body, so "send again" can resend it. */
  resendable: boolean;
  deliveries: DeliveryView[];
}

export interface Snapshot {
  requests: RequestView[];
  /** Deliveries of events that did not come through a request seen here (schedules, topics). */
  other: DeliveryView[];
}

/** What "send again" needs of a past request. */
export interface StoredRequest {
  route: string;
  query: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface TrafficModelOptions {
  /** Most requests (and other deliveries) kept, newest win; default 500. */
  limit?: number;
  /** Bytes of a body shown as a preview; default 2048. */
  previewBytes?: number;
}

type Line = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Line | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Line) : undefined);

/** Text of the first `limit` bytes, with what would not print shown as `·`. */
export function preview(bytes: Buffer, limit = 2048): string {
  const text = bytes.subarray(0, limit).toString('utf8');
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/g, '·') + (bytes.length > limit ? '…' : '');
}

function headersOf(value: unknown): Record<string, string> | undefined {
  const h = obj(value);
  if (!h) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (typeof v === 'string') out[k] = v;
  // Masked again on the way to the page: a line from an older relay (or a stray header) never shows a credential.
  return maskHeaders(out);
}

function errorText(value: unknown): string | undefined {
  const e = obj(value);
  if (!e) return str(value);
  return [str(e.code), str(e.message)].filter(Boolean).join(': ') || undefined;
}

/** Builds an empty model; feed it lines with `ingest`. */
export function createTrafficModel(options: TrafficModelOptions = {}) {
  const limit = options.limit ?? 500;
  const previewBytes = options.previewBytes ?? 2048;
  const requests: RequestView[] = [];
  const stored = new Map<number, StoredRequest>();
  const deliveries = new Map<string, DeliveryView>();
  // The verdict a route's next "Request answered" line closes (lines of one request come in order).
  const verdicts = new Map<string, { verdict: string; detail?: string }>();
  let nextId = 1;

  function delivery(key: string, target: string, line: Line): DeliveryView {
    const id = `${key}\u0000${target}`;
    let d = deliveries.get(id);
    if (!d) {
      d = {
        idempotencyKey: key,
        target,
        via: line.messageId === undefined ? 'relay' : 'pubsub',
        state: 'retrying',
        attempts: 0,
        failures: [],
        at: str(line.time) ?? new Date().toISOString(),
      };
      deliveries.set(id, d);
      if (deliveries.size > limit * 4) deliveries.delete(deliveries.keys().next().value!);
    }
    const sent = obj(line.sent);
    if (sent) {
      d.sentHeaders = headersOf(sent.headers);
      d.bytes = num(sent.bytes);
      const base64 = str(sent.previewBase64);
      if (base64 !== undefined)
        d.bodyPreview = preview(Buffer.from(base64, 'base64'), previewBytes) + ((d.bytes ?? 0) > previewBytes ? '…' : '');
    }
    return d;
  }

  function onDelivery(message: string, line: Line, key: string, target: string): boolean {
    const status = num(line.status);
    const attempts = num(line.attempts);
    const latencyMs = num(line.latencyMs);
    if (
      message === 'Target attempt failed' ||
      message.startsWith('Target refused the ID token') ||
      message === 'Request cannot be sent to the target' ||
      message === 'Target answer could not be read'
    ) {
      const d = delivery(key, target, line);
      d.failures.push({ attempt: num(line.attempt), status, reason: str(line.reason) ?? errorText(line.error), latencyMs, message });
      if (d.failures.length > 50) d.failures.shift();
      return true;
    }
    if (message === 'Delivered to target') {
      const d = delivery(key, target, line);
      Object.assign(d, {
        state: status !== undefined && status < 300 ? 'delivered' : 'rejected',
        status,
        latencyMs: latencyMs ?? d.latencyMs,
        detail: undefined,
      });
      d.attempts += attempts ?? 1;
      return true;
    }
    if (message === 'Delivery to target failed' || message === 'Delivery failed; Pub/Sub will redeliver') {
      const d = delivery(key, target, line);
      d.state = message === 'Delivery to target failed' ? 'failed' : 'retrying';
      d.detail = errorText(line.error);
      if (message === 'Delivery to target failed') d.attempts = Math.max(d.attempts, d.failures.length);
      return true;
    }
    if (message === 'Target still failing after in-function retries; Pub/Sub will redeliver') {
      const d = delivery(key, target, line);
      Object.assign(d, { state: 'retrying', status, latencyMs: latencyMs ?? d.latencyMs, detail: 'Pub/Sub will redeliver' });
      d.attempts += attempts ?? 1;
      return true;
    }
    if (message === 'Message dead-lettered') {
      const d = delivery(key, target, line);
      const detail = [str(line.reason), str(line.detail)].filter(Boolean).join(': ');
      Object.assign(d, { state: 'dead-lettered', status: status ?? d.status, detail });
      // Kept in the history, so a replayed delivery still shows why it was parked.
      d.failures.push({ status, reason: `dead-lettered (${detail})`, message });
      d.attempts += attempts ?? 0;
      return true;
    }
    return false;
  }

  function onAnswered(line: Line): void {
    const route = str(line.route) ?? '';
    const key = str(line.idempotencyKey);
    const target = str(line.target);
    if (key && target && num(line.targetStatus) !== undefined) {
      // The one-line common case: the target's figures ride on "Request answered".
      const d = delivery(key, target, line);
      Object.assign(d, { state: 'delivered', status: num(line.targetStatus), latencyMs: num(line.targetLatencyMs) });
      d.attempts += num(line.attempts) ?? 1;
    }
    const status = num(line.status) ?? 0;
    const said = verdicts.get(route);
    verdicts.delete(route);
    const verdict = said ?? (key ? { verdict: 'forwarded' } : { verdict: status < 400 ? 'answered' : 'refused' });
    const request = obj(line.request);
    const id = nextId++;
    const view: RequestView = {
      id,
      at: str(line.time) ?? new Date().toISOString(),
      route,
      method: str(line.method) ?? '',
      status,
      ...verdict,
      latencyMs: num(line.latencyMs),
      idempotencyKey: key,
      resendable: false,
      deliveries: [],
    };
    if (request) {
      const body = Buffer.from(str(request.bodyBase64) ?? '', 'base64');
      view.headers = headersOf(request.headers);
      view.bytes = num(request.bytes);
      view.bodyPreview = preview(body, previewBytes);
      view.resendable = request.truncated !== true;
      if (view.resendable) stored.set(id, { route, query: str(request.query) ?? '', headers: view.headers ?? {}, body });
    }
    requests.push(view);
    if (requests.length > limit) stored.delete(requests.shift()!.id);
  }

  return {
    /** Folds one log line in (non-JSON lines are ignored); true when the picture changed. */
    ingest(text: string): boolean {
      if (!text.startsWith('{')) return false;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        return false;
      }
      const message = str(line.message);
      if (!message) return false;
      const key = str(line.idempotencyKey);
      const target = str(line.target);
      if (key && target && onDelivery(message, line, key, target)) return true;
      const route = str(line.route);
      if (message === 'Request answered') {
        onAnswered(line);
        return true;
      }
      if (!route) return false;
      if (message === 'Request refused')
        verdicts.set(route, { verdict: 'refused', detail: [str(line.reason), errorText(line.error)].filter(Boolean).join(' · ') });
      else if (message.startsWith('Event dropped')) verdicts.set(route, { verdict: 'dropped', detail: str(line.eventType) });
      else if (message.startsWith('Duplicate delivery')) verdicts.set(route, { verdict: 'duplicate', detail: str(line.deliveryId) });
      else if (message.startsWith("Answered the sender's challenge")) verdicts.set(route, { verdict: 'challenge' });
      else if (message === 'Accepted for async delivery')
        verdicts.set(route, { verdict: 'accepted', detail: `${num(line.deliveries) ?? 1} delivery via Pub/Sub` });
      else if (message.startsWith('Publishing to Pub/Sub failed'))
        verdicts.set(route, { verdict: 'publish-failed', detail: errorText(line.error) });
      else return false;
      return false;
    },
    /** Requests newest first, each with its deliveries; and the deliveries no request names. */
    snapshot(): Snapshot {
      const claimed = new Set<DeliveryView>();
      const byKey = new Map<string, DeliveryView[]>();
      for (const d of deliveries.values()) {
        // Async deliveries carry the per-target key `<event key>:<target>` (shared/envelope.ts deriveKey).
        const suffix = `:${d.target}`;
        const eventKey =
          d.via === 'pubsub' && d.idempotencyKey.endsWith(suffix) ? d.idempotencyKey.slice(0, -suffix.length) : d.idempotencyKey;
        byKey.set(eventKey, [...(byKey.get(eventKey) ?? []), d]);
      }
      const views = requests
        .map((r) => {
          // A duplicate or refused request forwarded nothing: it names no deliveries even if its key matches.
          const own =
            r.idempotencyKey && (r.verdict === 'forwarded' || r.verdict === 'accepted') ? (byKey.get(r.idempotencyKey) ?? []) : [];
          for (const d of own) claimed.add(d);
          return { ...r, deliveries: own };
        })
        .reverse();
      const other = [...deliveries.values()].filter((d) => !claimed.has(d)).reverse();
      return { requests: views, other };
    },
    /** The request as it came in (credentials masked), for "send again"; undefined when unknown or not whole. */
    stored(id: number): StoredRequest | undefined {
      return stored.get(id);
    },
  };
}

export type TrafficModel = ReturnType<typeof createTrafficModel>;
