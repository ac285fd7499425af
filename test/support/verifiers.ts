/**
 * Builds a single scheme's verifier from a `verify:` block, through the same
 * zod schema and registry the relay uses, with secrets from a plain object.
 */
import { verifySchema, createVerifier } from '../../shared/verify/registry.js';
import type { HeaderMap, SchemeSettings, Verifier, VerifyInput } from '../../shared/verify/scheme.js';
import { RelayError } from '../../shared/errors.js';

export function verifierFor(options: Record<string, unknown>, secrets: Record<string, string>, settings: SchemeSettings = {}): Verifier {
  return createVerifier(verifySchema.parse(options), {
    secret: (name) => {
      const value = secrets[name];
      if (value === undefined) throw new Error(`test secret ${name} not set`);
      return value;
    },
    settings,
  });
}

/** Runs a verifier and returns either its result or the RelayError's code and message. */
export async function outcome(verifier: Verifier, input: { headers: HeaderMap; rawBody: Buffer | string; now?: number; query?: string }) {
  const full: VerifyInput = {
    headers: input.headers,
    rawBody: Buffer.from(input.rawBody),
    now: input.now ?? Date.now(),
    query: input.query ?? '',
  };
  try {
    return { ok: true as const, ...(await verifier.verify(full)) };
  } catch (error) {
    if (error instanceof RelayError) return { ok: false as const, code: error.code, status: error.status, message: error.message };
    throw error;
  }
}
