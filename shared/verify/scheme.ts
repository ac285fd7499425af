/**
 * The plug-in interface for webhook verification schemes.
 *
 * A scheme declares the zod shape of its `verify:` options and a factory that
 * turns parsed options (with secrets already read from the environment) into a
 * verifier. Verifiers see the exact bytes received and the lower-cased headers,
 * and either return what they learned about the delivery or throw a RelayError.
 */
import type { z } from 'zod';
import type { Settings } from '../settings.js';

/** Lower-cased request headers; repeated headers are joined with ", " as Node does. */
export type HeaderMap = Readonly<Record<string, string | undefined>>;

export interface VerifyInput {
  headers: HeaderMap;
  /** The exact bytes received. Signatures are always computed over these. */
  rawBody: Buffer;
  /** Milliseconds since the epoch, from the relay's clock. */
  now: number;
  /** The request's query string including "?", or "" (Twilio signs the full URL). */
  query?: string;
}

/** An answer the relay gives itself instead of forwarding (a sender's URL-verification challenge). */
export interface Reply {
  status: number;
  body: unknown;
}

export interface Verified {
  /** The sender's id for this delivery, reused as the idempotency key. */
  deliveryId?: string;
  /** The sender's event type, when it names one. */
  eventType?: string;
  /** The authenticated caller, when the scheme identifies one. */
  consumer?: string;
  /** The body, when the scheme had to parse it (only ever after the signature passed). */
  body?: unknown;
  /** Set when the request is a challenge the relay answers itself; nothing is forwarded. */
  reply?: Reply;
}

export interface Verifier {
  verify(input: VerifyInput): Verified | Promise<Verified>;
}

/** The settings schemes read: where `google-oidc` fetches Google's certificates. */
export type SchemeSettings = Partial<Pick<Settings, 'googleCertsUrl'>>;

/** What a scheme factory receives besides its options. */
export interface SchemeContext {
  /** Reads a secret by environment variable name; config loading guarantees it is set. */
  secret(envName: string): string;
  /** Settings that are not secrets, parsed once by the runtime (see shared/settings.ts); each has a default. */
  settings?: SchemeSettings;
}

export interface SchemeDefinition<Schema extends z.ZodObject = z.ZodObject> {
  /** The value of `verify.scheme` that selects this scheme. */
  scheme: string;
  /**
   * Builds the zod shape of the `verify:` block, including the `scheme` literal: called only for a scheme a route
   * names, once per verify schema (`buildVerifySchema` in registry.ts keeps what it built for as long as it lives
   * itself), so a cold start builds the schemas its config uses and no others, and none outlives the config check.
   */
  options: () => Schema;
  /** Environment variable names this scheme's options reference, for start-up checks. */
  secretEnvs(options: z.output<Schema>): string[];
  /** Sender headers worth passing on to the target (lower-case). */
  forwardHeaders: readonly string[];
  /**
   * Headers that carry the signature or credential (lower-case): never
   * forwarded, and refused in any route's `forwardHeaders`. A function when
   * the options name them (`hmac`).
   */
  signatureHeaders: HeaderList<z.output<Schema>>;
  /** Other headers the signature covers (timestamps, delivery ids), lower-case: changing one invalidates the signature. */
  signedHeaders: HeaderList<z.output<Schema>>;
  /** How long a delivery id is remembered, in seconds; default 300 (`DEFAULT_TOLERANCE_SECONDS`). */
  replayWindowSeconds?(options: z.output<Schema>): number;
  create(options: z.output<Schema>, context: SchemeContext): Verifier;
}

/** A fixed list of header names, or one computed from a route's options. */
export type HeaderList<Options> = readonly string[] | ((options: Options) => readonly string[]);

/**
 * Keeps a scheme definition's option types precise. Its options schema is not memoized here: whoever parses
 * `verify:` blocks builds it and drops it (see `buildVerifySchema`), so it does not stay in memory for the life
 * of the process.
 */
export function defineScheme<Schema extends z.ZodObject>(definition: SchemeDefinition<Schema>): SchemeDefinition<Schema> {
  return definition;
}
