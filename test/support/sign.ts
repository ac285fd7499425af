import { createHmac } from 'node:crypto';

/** The X-Hub-Signature-256 value GitHub would send for `body`. */
export function githubSignature(secret: string, body: string | Buffer): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}
