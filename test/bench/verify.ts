/**
 * Verification cost per scheme: verifications per second for a 10 KiB body,
 * measured on the verifier alone (no HTTP), and throughput through the relay
 * (real Functions Framework server on loopback, token-verifying target) with
 * and without verification. `npm run bench` calls these; alone:
 * `npx tsx test/bench/verify.ts`.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { keyDigest } from '../../shared/verify/consumer-keys.js';
import type { Verifier } from '../../shared/verify/scheme.js';
import { startMetadataServer } from '../emulators/metadata-server.js';
import { startStack } from '../support/stack.js';
import { verifierFor } from '../support/verifiers.js';
import { assertHonest } from './counts.js';
import type { BenchSection } from './section.js';

export interface VerifyBenchRow {
  scheme: string;
  verificationsPerSecond: number;
  microsecondsEach: number;
  bodyBytes: number;
}

export interface VerifyBenchOptions {
  /** Measuring time per scheme; default 500 ms (after a 100 ms warm-up). */
  durationMs?: number;
  bodyBytes?: number;
}

const SECRET = 'bench-secret-value';
const hex = (data: string | Buffer, algorithm = 'sha256') => createHmac(algorithm, SECRET).update(data).digest('hex');

function jsonBody(size: number): Buffer {
  const head = '{"id":"evt_bench","type":"bench.event","event":"bench.event","pad":"';
  return Buffer.from(head + 'x'.repeat(Math.max(0, size - head.length - 2)) + '"}');
}

interface Subject {
  scheme: string;
  verifier: Verifier;
  headers: Record<string, string>;
  query?: string;
}

async function subjects(body: Buffer, now: number): Promise<{ list: Subject[]; close(): Promise<void> }> {
  const ts = String(Math.floor(now / 1000));
  const whsec = 'whsec_' + Buffer.from(SECRET).toString('base64');
  const json = { 'content-type': 'application/json' };
  const ed = generateKeyPairSync('ed25519');
  const whpk = 'whpk_' + Buffer.from((ed.publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url').toString('base64');
  const swSigned = Buffer.concat([Buffer.from(`msg_1.${ts}.`), body]);
  const form = Buffer.from('Body=' + 'x'.repeat(body.length - 20) + '&From=%2B1555');
  const metadata = await startMetadataServer();
  const audience = 'https://relay.example.com/oidc';
  const s = { S: SECRET, W: whsec, P: whpk };
  const list: Subject[] = [
    {
      scheme: 'github',
      verifier: verifierFor({ scheme: 'github', secretEnv: 'S' }, s),
      headers: { ...json, 'x-hub-signature-256': 'sha256=' + hex(body) },
    },
    {
      scheme: 'stripe',
      verifier: verifierFor({ scheme: 'stripe', secretEnv: 'S' }, s),
      headers: { ...json, 'stripe-signature': `t=${ts},v1=${hex(Buffer.concat([Buffer.from(ts + '.'), body]))}` },
    },
    {
      scheme: 'slack',
      verifier: verifierFor({ scheme: 'slack', secretEnv: 'S' }, s),
      headers: {
        ...json,
        'x-slack-request-timestamp': ts,
        'x-slack-signature': 'v0=' + hex(Buffer.concat([Buffer.from(`v0:${ts}:`), body])),
      },
    },
    {
      scheme: 'shopify',
      verifier: verifierFor({ scheme: 'shopify', secretEnv: 'S' }, s),
      headers: { ...json, 'x-shopify-hmac-sha256': createHmac('sha256', SECRET).update(body).digest('base64') },
    },
    {
      scheme: 'standard-webhooks v1',
      verifier: verifierFor({ scheme: 'standard-webhooks', secretEnv: 'W' }, s),
      headers: {
        ...json,
        'webhook-id': 'msg_1',
        'webhook-timestamp': ts,
        'webhook-signature': 'v1,' + createHmac('sha256', Buffer.from(SECRET)).update(swSigned).digest('base64'),
      },
    },
    {
      scheme: 'standard-webhooks v1a',
      verifier: verifierFor({ scheme: 'standard-webhooks', publicKeyEnv: 'P' }, s),
      headers: {
        ...json,
        'webhook-id': 'msg_1',
        'webhook-timestamp': ts,
        'webhook-signature': 'v1a,' + sign(null, swSigned, ed.privateKey).toString('base64'),
      },
    },
    {
      scheme: 'twilio (form)',
      verifier: verifierFor({ scheme: 'twilio', secretEnv: 'S', publicUrl: 'https://relay.example.com/twilio' }, s),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': createHmac('sha1', SECRET)
          .update(
            'https://relay.example.com/twilio' +
              [...new URLSearchParams(form.toString())]
                .sort()
                .map(([k, v]) => k + v)
                .join(''),
          )
          .digest('base64'),
      },
    },
    {
      scheme: 'zoom',
      verifier: verifierFor({ scheme: 'zoom', secretEnv: 'S' }, s),
      headers: { ...json, 'x-zm-request-timestamp': ts, 'x-zm-signature': 'v0=' + hex(Buffer.concat([Buffer.from(`v0:${ts}:`), body])) },
    },
    {
      scheme: 'hmac sha512',
      verifier: verifierFor({ scheme: 'hmac', secretEnv: 'S', header: 'x-sig', algorithm: 'sha512' }, s),
      headers: { ...json, 'x-sig': hex(body, 'sha512') },
    },
    {
      scheme: 'bearer (20 consumer keys)',
      verifier: verifierFor(
        {
          scheme: 'bearer',
          keys: Array.from({ length: 20 }, (_, i) => ({ consumer: `c${i}`, sha256: keyDigest(`key-${i}`).toString('hex') })),
        },
        s,
      ),
      headers: { authorization: 'Bearer key-19' },
    },
    {
      scheme: 'google-oidc',
      verifier: verifierFor({ scheme: 'google-oidc', audience, serviceAccounts: metadata.serviceAccount }, s, {
        googleCertsUrl: metadata.pemCertsUrl,
      }),
      headers: { authorization: `Bearer ${metadata.mint(audience)}` },
    },
  ];
  list.find((x) => x.scheme.startsWith('twilio'))!.headers['x-bench-body'] = 'form';
  return { list, close: metadata.close };
}

/** Verifications per second for each scheme (10 KiB body by default). */
export async function benchVerify(options: VerifyBenchOptions = {}): Promise<VerifyBenchRow[]> {
  const durationMs = options.durationMs ?? 500;
  const body = jsonBody(options.bodyBytes ?? 10 * 1024);
  const form = Buffer.from('Body=' + 'x'.repeat(body.length - 20) + '&From=%2B1555');
  const now = Date.now();
  const { list, close } = await subjects(body, now);
  const rows: VerifyBenchRow[] = [];
  try {
    for (const subject of list) {
      const rawBody = subject.headers['x-bench-body'] === 'form' ? form : body;
      const input = { headers: subject.headers, rawBody, now, query: subject.query ?? '' };
      const first = await subject.verifier.verify(input); // also proves the signature is right
      if (first === undefined) throw new Error(`${subject.scheme}: no result`);
      for (const end = performance.now() + 100; performance.now() < end;) await subject.verifier.verify(input);
      let count = 0;
      const started = performance.now();
      let elapsed = 0;
      do {
        for (let i = 0; i < 50; i++) await subject.verifier.verify(input);
        count += 50;
        elapsed = performance.now() - started;
      } while (elapsed < durationMs);
      rows.push({
        scheme: subject.scheme,
        verificationsPerSecond: Math.round((count / elapsed) * 1000),
        microsecondsEach: Math.round((elapsed / count) * 1000 * 10) / 10,
        bodyBytes: rawBody.length,
      });
    }
  } finally {
    await close();
  }
  return rows;
}

export interface RelayBenchRow {
  scheme: string;
  requests: number;
  /** Requests that reached the target (equal to `requests` unless the row measures replays). */
  reached: number;
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Requests per second through the relay (loopback, one target) for a 10 KiB body, per scheme. */
export async function benchRelayVerification(options: { requests?: number; concurrency?: number } = {}): Promise<RelayBenchRow[]> {
  const requests = options.requests ?? 2000;
  const concurrency = options.concurrency ?? 32;
  const body = jsonBody(10 * 1024);
  const rows: RelayBenchRow[] = [];
  const cases: { scheme: string; verify: Record<string, unknown>; headers: (i: number) => Record<string, string> }[] = [
    { scheme: 'none', verify: { scheme: 'none' }, headers: () => ({}) },
    {
      scheme: 'github',
      verify: { scheme: 'github', secretEnv: 'S' },
      headers: (i) => ({ 'x-github-delivery': `d-${i}`, 'x-hub-signature-256': 'sha256=' + hex(body) }),
    },
    {
      scheme: 'stripe',
      verify: { scheme: 'stripe', secretEnv: 'S' },
      headers: () => {
        const ts = Math.floor(Date.now() / 1000);
        return { 'stripe-signature': `t=${ts},v1=${hex(Buffer.concat([Buffer.from(`${ts}.`), body]))}` };
      },
    },
  ];
  for (const c of cases) {
    let reached = 0;
    const stack = await startStack({
      env: { S: SECRET },
      targets: { svc: { behaviour: (_req, res) => void (reached++, res.writeHead(204).end()) } },
      routes: { r: { verify: c.verify, forward: [{ target: 'svc' }] } },
    });
    try {
      const latencies: number[] = [];
      let next = 0;
      // Stripe's event id is in the body, so every request past the first would be a duplicate: that path is measured too.
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < requests) {
            const i = next++;
            const t0 = performance.now();
            const res = await fetch(`${stack.url}/r`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json', ...c.headers(i) },
            });
            await res.arrayBuffer();
            if (res.status >= 300) throw new Error(`${c.scheme}: status ${res.status}`);
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const elapsed = performance.now() - started;
      latencies.sort((a, b) => a - b);
      const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10;
      // Every row but the replay one must have relayed every request it was answered for.
      if (c.scheme !== 'stripe')
        assertHonest([
          {
            what: `verify section, ${c.scheme}`,
            answered: requests,
            errors: 0,
            reached: { received: reached, accepted: reached, refused: 0, keyed: 0, duplicateKeys: 0 },
          },
        ]);
      rows.push({
        scheme: c.scheme === 'stripe' ? 'stripe (replays: answered as duplicates)' : c.scheme,
        requests,
        reached,
        concurrency,
        requestsPerSecond: Math.round((requests / elapsed) * 1000),
        p50Ms: at(0.5),
        p99Ms: at(0.99),
      });
    } finally {
      await stack.close();
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log('Verification cost per scheme (10 KiB body, verifier only):');
  console.table(await benchVerify());
  console.log('Through the relay (loopback, 10 KiB body, target answers 204):');
  console.table(await benchRelayVerification());
  process.exit(0);
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** `npm run bench` section: verification cost per scheme, and the relay's throughput with and without verification. */
export const section: BenchSection = {
  name: 'verify',
  async run({ options, progress }) {
    progress('verify: verifier-only cost per scheme');
    const schemes = await benchVerify({ durationMs: options.quick ? 200 : 500 });
    progress('verify: through the relay, per scheme');
    const relay = await benchRelayVerification({ requests: options.quick ? 500 : 2000 });
    const none = relay.find((r) => r.scheme === 'none');
    const github = relay.find((r) => r.scheme === 'github');
    const ratio = none && github ? github.requestsPerSecond / none.requestsPerSecond : NaN;
    return {
      title: 'Verification cost (10 KiB body)',
      tables: [
        {
          heading: 'Verifier only',
          rows: schemes.map((r) => ({
            scheme: r.scheme,
            'verifications/s': fmt(r.verificationsPerSecond),
            'µs each': r.microsecondsEach.toFixed(1),
          })),
        },
        {
          heading: `Through the relay (in-process stack, concurrency ${relay[0]?.concurrency ?? '?'})`,
          rows: relay.map((r) => ({
            scheme: r.scheme,
            'reached target': `${fmt(r.reached)} of ${fmt(r.requests)}`,
            'req/s': fmt(r.requestsPerSecond),
            'p50 ms': String(r.p50Ms),
            'p99 ms': String(r.p99Ms),
          })),
        },
      ],
      notes: [
        `github-verified throughput is ${ratio.toFixed(2)}× the unverified route's (verification cost stays within the spine's aims when this is near 1).`,
      ],
      data: { schemes, relay },
    };
  },
};
