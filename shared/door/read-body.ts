/**
 * Reads a request body under a {@link BodyPolicy}: bytes are counted as they
 * arrive and reading stops at the limit, a deadline bounds a slow sender,
 * and a `Content-Encoding` is decoded only when the policy names it, with the
 * decoded output counted against the same limit (a 1 KiB brotli bomb costs
 * the limit, not its 400 MiB). Nothing is buffered past the limit.
 *
 * Callback-based on purpose: this runs for every request, under the Functions
 * Framework's per-request domain, where each promise costs.
 */
import type { Readable } from 'node:stream';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { RelayError } from '../errors.js';
import type { BodyPolicy } from './policy.js';

export type BodyCallback = (error: RelayError | undefined, body: Buffer) => void;

const EMPTY = Buffer.alloc(0);

/** The decoder for a `Content-Encoding` value, undefined for none; a RelayError (415) for one the policy does not allow. */
export function decoderFor(header: string | undefined, policy: BodyPolicy): Transform | undefined | RelayError {
  const coding = (header ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return undefined;
  if (!(policy.encodings as readonly string[]).includes(coding)) {
    const allowed = policy.encodings.length
      ? `this route decodes ${policy.encodings.join(', ')}`
      : 'this route accepts no Content-Encoding (see acceptEncodings)';
    return new RelayError('unsupported_media_type', `Content-Encoding "${coding.slice(0, 40)}" is not accepted: ${allowed}`);
  }
  return coding === 'gzip' ? createGunzip() : coding === 'deflate' ? createInflate() : createBrotliDecompress();
}

/** Reads `stream` to its end under `policy`; calls `done` exactly once. */
export function readBody(
  stream: Readable,
  headers: Record<string, string | string[] | undefined>,
  policy: BodyPolicy,
  done: BodyCallback,
): void {
  const limit = policy.maxBytes;
  const tooLarge = () => new RelayError('payload_too_large', `Body exceeds this route's limit of ${limit} bytes`);
  const declared = Number(headers['content-length']);
  if (declared > limit) return done(tooLarge(), EMPTY);
  const decoding = decoderFor(headers['content-encoding'] as string | undefined, policy);
  if (decoding instanceof RelayError) return done(decoding, EMPTY);
  const decoder: Transform | undefined = decoding;

  let chunks: Buffer[] = [];
  let size = 0;
  let received = 0;
  let finished = false;
  const timer = setTimeout(
    () => finish(new RelayError('request_timeout', `Body not received within ${policy.timeoutMs} ms`)),
    policy.timeoutMs,
  );

  function finish(error?: RelayError): void {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onAbort);
    stream.off('close', onAbort);
    if (decoder) {
      decoder.off('data', onDecoded);
      decoder.destroy();
    }
    const body = error ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    chunks = [];
    done(error, body);
  }
  function take(chunk: Buffer): boolean {
    size += chunk.length;
    if (size > limit) {
      finish(tooLarge());
      return false;
    }
    chunks.push(chunk);
    return true;
  }
  function onData(chunk: Buffer): void {
    if (!decoder) {
      take(chunk);
      return;
    }
    received += chunk.length;
    if (received > limit) finish(tooLarge());
    else decoder.write(chunk);
  }
  function onDecoded(chunk: Buffer): void {
    take(chunk);
  }
  function onEnd(): void {
    if (!decoder) return finish();
    // Every byte has arrived: only the decoder can still fail, whatever the connection does now.
    stream.off('error', onAbort);
    stream.off('close', onAbort);
    decoder.end();
  }
  function onAbort(): void {
    finish(new RelayError('bad_request', 'Request aborted before its body was complete'));
  }

  if (decoder) {
    decoder.on('data', onDecoded);
    decoder.once('end', () => finish());
    decoder.once('error', () => finish(new RelayError('bad_request', 'Body does not decode as its Content-Encoding says')));
  }
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onAbort);
  stream.once('close', onAbort);
}
