import { createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of two byte strings; different lengths compare false. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** HMAC of `data` with `secret`, as raw bytes. */
export function hmac(algorithm: 'sha1' | 'sha256' | 'sha512', secret: string | Buffer, ...data: (string | Buffer)[]): Buffer {
  const mac = createHmac(algorithm, secret);
  for (const part of data) mac.update(part);
  return mac.digest();
}
