/**
 * Bench function (b): the smallest pass-through a relay on the Functions
 * Framework can be. It forwards the raw body to UPSTREAM with `fetch` (as the
 * relay does), adding one fixed header, and returns the answer. Compiled to
 * dist/bench/ by the bench and served by the framework's own CLI with
 * `--target=passthrough`. Env: UPSTREAM, HEADER_NAME, HEADER_VALUE.
 */
import { http } from '@google-cloud/functions-framework';

const upstream = (process.env.UPSTREAM ?? 'http://127.0.0.1:1').replace(/\/$/, '');
const headerName = process.env.HEADER_NAME ?? 'x-relayed-by';
const headerValue = process.env.HEADER_VALUE ?? 'bench';

http('passthrough', async (req, res) => {
  try {
    const answer = await fetch(upstream + req.originalUrl, {
      method: req.method,
      headers: { 'content-type': req.get('content-type') ?? 'application/octet-stream', [headerName]: headerValue },
      body: req.rawBody,
    });
    const body = Buffer.from(await answer.arrayBuffer());
    res.status(answer.status).set('content-type', answer.headers.get('content-type') ?? 'application/octet-stream').send(body);
  } catch {
    res.status(502).json({ error: { code: 'bad_gateway', message: 'upstream failed' } });
  }
});
