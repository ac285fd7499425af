/**
 * Bench functions (b): the smallest pass-through a relay on the Functions
 * Framework can be. Each forwards the raw body to UPSTREAM adding one fixed
 * header and returns the answer; `passthrough` uses `fetch` (as the relay
 * does), `passthrough-http` a keep-alive node:http agent. Compiled to
 * dist/bench/ by the bench and served by the framework's own CLI with
 * `--target=<name>`. Env: UPSTREAM, HEADER_NAME, HEADER_VALUE.
 */
import { Agent, request } from 'node:http';
import { http } from '@google-cloud/functions-framework';

const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:1');
const base = upstream.origin;
const headerName = process.env.HEADER_NAME ?? 'x-relayed-by';
const headerValue = process.env.HEADER_VALUE ?? 'bench';
const BAD_GATEWAY = { error: { code: 'bad_gateway', message: 'upstream failed' } };

http('passthrough', async (req, res) => {
  try {
    const answer = await fetch(base + req.originalUrl, {
      method: req.method,
      headers: { 'content-type': req.get('content-type') ?? 'application/octet-stream', [headerName]: headerValue },
      body: req.rawBody,
    });
    const body = Buffer.from(await answer.arrayBuffer());
    res
      .status(answer.status)
      .set('content-type', answer.headers.get('content-type') ?? 'application/octet-stream')
      .send(body);
  } catch {
    res.status(502).json(BAD_GATEWAY);
  }
});

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

http('passthrough-http', (req, res) => {
  const body = req.rawBody ?? Buffer.alloc(0);
  const out = request(
    {
      agent,
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.originalUrl,
      headers: {
        'content-type': req.get('content-type') ?? 'application/octet-stream',
        'content-length': body.length,
        [headerName]: headerValue,
      },
    },
    (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        res
          .status(answer.statusCode ?? 502)
          .set('content-type', answer.headers['content-type'] ?? 'application/octet-stream')
          .send(Buffer.concat(chunks));
      });
    },
  );
  out.on('error', () => res.status(502).json(BAD_GATEWAY));
  out.end(body);
});
