/**
 * Bench server (a): a token-free target on node:http that reads the body and
 * answers 200 with a small JSON document, counting what it received
 * (GET /__bench/counts). Env: PORT.
 */
import { createServer } from 'node:http';
import { COUNTS_PATH, createCounter } from '../counts.js';

const port = Number(process.env.PORT ?? 0);
const reply = Buffer.from('{"ok":true}');
const counter = createCounter();

const server = createServer((req, res) => {
  if (req.url === COUNTS_PATH)
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counter.snapshot()));
  req.on('data', () => {});
  req.on('end', () => {
    const key = req.headers['idempotency-key'];
    counter.record(typeof key === 'string' ? key : undefined, true);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
