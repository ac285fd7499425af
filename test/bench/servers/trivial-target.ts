/**
 * Bench server (a): a token-free target on node:http that reads the body and
 * answers 200 with a small JSON document. Env: PORT.
 */
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 0);
const reply = Buffer.from('{"ok":true}');

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
