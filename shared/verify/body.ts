/**
 * Reading a body the signature has already vouched for: media type, JSON,
 * form parameters. Never called on an unauthenticated body.
 */
import { RelayError } from '../errors.js';
import type { HeaderMap } from './scheme.js';

/** The media type of the request, lower-cased, without parameters ("" when absent). */
export function mediaType(headers: HeaderMap): string {
  return (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export const isJsonType = (type: string) => type === 'application/json' || /^application\/[\w.+-]+\+json$/.test(type);
export const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Parses UTF-8 JSON; a body that is not JSON is a 400. */
export function parseJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(rawBody));
  } catch {
    throw new RelayError('bad_request', 'Body is not valid UTF-8 JSON');
  }
}

/** Form parameters in order of appearance, as [name, value] pairs. */
export function parseFormPairs(rawBody: Buffer): [string, string][] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(rawBody);
  } catch {
    throw new RelayError('bad_request', 'Form body is not valid UTF-8');
  }
  return [...new URLSearchParams(text)];
}

/** Form parameters as an object; repeated names become arrays. */
export function parseForm(rawBody: Buffer): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of parseFormPairs(rawBody)) {
    const prior = out[name];
    out[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return { ...out };
}

/** Parses a body by its Content-Type: JSON or form; anything else is a 415. */
export function parseBody(headers: HeaderMap, rawBody: Buffer): unknown {
  const type = mediaType(headers);
  if (isJsonType(type)) return parseJson(rawBody);
  if (type === FORM_TYPE) return parseForm(rawBody);
  throw new RelayError(
    'unsupported_media_type',
    `Cannot read a ${type || 'body without Content-Type'}; expected application/json or ${FORM_TYPE}`,
  );
}

/** `record[key]` when record is a plain object and the value a non-empty string. */
export function stringField(record: unknown, key: string): string | undefined {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
  const value = (record as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
