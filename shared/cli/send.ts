/**
 * `run-relay send ROUTE [--body FILE|-] [--header K:V]... [--event TYPE] [--key KEY] [--url U] [--curl]`:
 * signs a body the way ROUTE's sender would (any scheme in the registry) and
 * POSTs it to the relay: the local stack's (from .relay-local.json), else
 * RELAY_URL, else http://127.0.0.1:8080; prints the answer. `--curl` prints
 * the ready-to-paste command instead.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { configPath, readConfigFile, validateConfig } from '../config/load.js';
import { shellQuote } from '../deploy/command.js';
import { findCredentialsFile, resolveTokenSource } from '../identity/resolve.js';
import { secretRefsOf } from '../verify/registry.js';
import { CliError, type Command } from './main.js';
import { metadataAnswers, noCredentialsMessage } from './metadata-probe.js';
import { sampleBody, signRequest, SignError } from './sign.js';

/** Default relay URL when neither --url, RELAY_URL nor the local stack says. */
export const DEFAULT_RELAY_URL = 'http://127.0.0.1:8080';

const FORM = /^[\w.~%+-]+=[^&\s]*(?:&[\w.~%+-]+=[^&\s]*)*$/;

/** The media type a body is sent with when no --header content-type says: JSON, form, else text. */
export function guessContentType(body: Buffer, file?: string): string {
  const text = body.toString('utf8');
  if (file && extname(file).toLowerCase() === '.json') return 'application/json';
  try {
    JSON.parse(text);
    return 'application/json';
  } catch {
    return FORM.test(text.trim()) ? 'application/x-www-form-urlencoded' : 'text/plain';
  }
}

function parseHeader(value: string): [string, string] {
  const at = value.indexOf(':');
  if (at <= 0) throw new CliError(`expected --header NAME:VALUE, got "${value}"`);
  return [value.slice(0, at).trim().toLowerCase(), value.slice(at + 1).trim()];
}

/** `--url` is either the relay's base URL (the route is appended) or a full URL whose path already names a route. */
export function routeUrl(base: string, route: string): string {
  if (!URL.canParse(base)) throw new CliError(`expected --url to be a URL such as http://127.0.0.1:8080, got "${base}"`);
  const url = new URL(base);
  if (url.pathname === '/' || url.pathname === '') url.pathname = `/${route}`;
  return url.toString();
}

export interface SendDeps {
  /** Reads standard input (for `--body -`). */
  stdin?: () => Buffer;
  fetch?: typeof fetch;
  now?: () => number;
}

/** Builds the command; tests pass stdin and a clock. */
export function sendCommand(deps: SendDeps = {}): Command {
  return {
    summary: "Sign a body the way a route's sender would and POST it to the relay (or print the curl command).",
    usage:
      'run-relay send ROUTE [--body FILE|-] [--header K:V]... [--event TYPE] [--key KEY] [--url U] [--curl]\n\n' +
      "  ROUTE            a route of the config in use (RELAY_CONFIG, or the running npm start's)\n" +
      '  --body FILE|-    the bytes to send (- reads standard input); default a small sample event\n' +
      '  --header K:V     an extra request header; repeatable; overrides a signed one of the same name\n' +
      '  --event TYPE     event type, for schemes that carry it in a header (GitHub, Shopify, hmac)\n' +
      '  --key KEY        for bearer routes with consumer keys only: the key to present\n' +
      "  --url U          the relay's base URL (default: the running npm start, else $RELAY_URL, else http://127.0.0.1:8080)\n" +
      "  --curl           print a ready-to-paste curl command instead of sending (timestamps expire with the route's tolerance)",
    options: {
      body: { type: 'string' },
      header: { type: 'string', multiple: true },
      event: { type: 'string' },
      key: { type: 'string' },
      url: { type: 'string' },
      curl: { type: 'boolean' },
    },
    async run({ values, positionals, env, out }) {
      const [route, ...extra] = positionals;
      if (!route) throw new CliError('expected a ROUTE');
      if (extra.length > 0) throw new CliError(`unexpected argument "${extra[0]}"`);
      const file = configPath(env);
      const config = validateConfig(readConfigFile(file), file);
      const routeConfig = config.routes[route];
      if (!routeConfig)
        throw new CliError(`no route named "${route}" in ${file}; expected one of: ${Object.keys(config.routes).join(', ') || '(none)'}`);
      const now = (deps.now ?? Date.now)();
      const eventType = values.event as string | undefined;
      const bodyArg = values.body as string | undefined;
      let body: Buffer;
      let contentType: string;
      if (bodyArg === undefined) ({ body, contentType } = sampleBody(routeConfig.verify, eventType, now));
      else {
        try {
          body = bodyArg === '-' ? (deps.stdin ?? (() => readFileSync(0)))() : readFileSync(bodyArg);
        } catch (error) {
          throw new CliError(
            `cannot read --body ${bodyArg}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message}`,
          );
        }
        contentType = guessContentType(body, bodyArg === '-' ? undefined : bodyArg);
      }
      const extraHeaders = ((values.header as string[] | undefined) ?? []).map(parseHeader);
      contentType = extraHeaders.find(([k]) => k === 'content-type')?.[1] ?? contentType;
      const refs = secretRefsOf({ [route]: routeConfig });
      const secret = (name: string) => {
        const value = env[name];
        if (value) return value;
        const path = refs.find((r) => r.env === name)?.path ?? `routes.${route}.verify`;
        throw new CliError(
          `environment variable ${name} (${path}) is not set; run \`npm start\` in this directory (its secrets are found through .relay-local.json) or set ${name}`,
        );
      };
      let signed;
      try {
        signed = await signRequest(routeConfig.verify, {
          body,
          contentType: contentType.split(';')[0]!.trim().toLowerCase(),
          eventType,
          now,
          secret,
          key: values.key as string | undefined,
          idToken: async (audience) => {
            if (!findCredentialsFile(undefined, { env }) && !(await metadataAnswers()))
              throw new CliError(`cannot mint a Google ID token for route "${route}": ${noCredentialsMessage()}`);
            return resolveTokenSource(undefined, { env }).fetchIdToken(audience);
          },
        });
      } catch (error) {
        if (error instanceof SignError)
          throw new CliError(`cannot sign for route "${route}" (scheme ${routeConfig.verify.scheme}): ${error.message}`);
        throw error;
      }
      const headers: Record<string, string> = { 'content-type': contentType, ...signed.headers };
      for (const [k, v] of extraHeaders) headers[k] = v;
      const url = routeUrl((values.url as string | undefined) ?? env.RELAY_URL ?? DEFAULT_RELAY_URL, route) + signed.query;

      if (values.curl) {
        const data = bodyArg !== undefined && bodyArg !== '-' ? `@${bodyArg}` : body.toString('utf8');
        const tolerance = 'toleranceSeconds' in routeConfig.verify ? routeConfig.verify.toleranceSeconds : undefined;
        const timestamped =
          Object.keys(signed.headers).some((h) => /timestamp|^x-ts$|stripe-signature/.test(h)) ||
          (routeConfig.verify.scheme === 'hmac' && routeConfig.verify.timestampHeader);
        if (timestamped && tolerance !== undefined)
          console.error(`# signed at ${new Date(now).toISOString()}: the relay accepts it for ${tolerance} s`);
        out(
          [
            'curl -i ' + shellQuote(url),
            ...Object.entries(headers).map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)}`),
            `--data-binary ${shellQuote(data)}`,
          ].join(' \\\n  '),
        );
        return 0;
      }
      let response: Response;
      try {
        response = await (deps.fetch ?? fetch)(url, {
          method: 'POST',
          headers,
          body: new Uint8Array(body),
          signal: AbortSignal.timeout(routeConfig.deadlineMs + 5000),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        throw new Error(`could not reach ${url} (${cause}); is \`npm start\` running? (--url names another relay)`, { cause: error });
      }
      const text = await response.text();
      out(`POST ${url} -> ${response.status} ${response.statusText}`);
      let pretty = text;
      try {
        pretty = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        /* not JSON: print as is */
      }
      if (pretty) out(pretty);
      return response.ok ? 0 : 1;
    },
  };
}
