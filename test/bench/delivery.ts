/**
 * The request every spine variant sends: a GitHub `issues` delivery of about
 * 1.5 KB, signed once (GitHub signs the body only), with a fresh
 * `X-GitHub-Delivery` on every request so the relay's replay cache never
 * answers in place of relaying.
 */
import { randomUUID } from 'node:crypto';
import { githubSignature } from '../support/sign.js';

export interface SampleDelivery {
  body: Buffer;
  /** Headers for one request; each call carries a new delivery id. */
  headers(): Record<string, string>;
}

/** A signed sample delivery for `secret`; see {@link SampleDelivery}. */
export function sampleDelivery(secret: string, newId: () => string = randomUUID): SampleDelivery {
  const body = Buffer.from(
    JSON.stringify({
      action: 'opened',
      issue: {
        id: 1,
        number: 42,
        title: 'Bench issue',
        state: 'open',
        body: 'x'.repeat(600),
        user: { login: 'octocat', id: 1 },
        labels: [],
      },
      repository: { id: 1296269, full_name: 'octocat/Hello-World', private: false, owner: { login: 'octocat', id: 1 } },
      sender: { login: 'octocat', id: 1, type: 'User' },
      installation: { id: 123456 },
    }),
  );
  const signature = githubSignature(secret, body);
  return {
    body,
    headers: () => ({
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/bench',
      'x-github-event': 'issues',
      'x-github-delivery': newId(),
      'x-hub-signature-256': signature,
    }),
  };
}
