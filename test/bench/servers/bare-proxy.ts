/**
 * Bench server (d): a bare node:http pass-through proxy with a keep-alive
 * agent. It forwards method, path, content-type and body to UPSTREAM, adds
 * one fixed header, and streams the answer back.
 * Env: PORT, UPSTREAM (base URL), HEADER_NAME, HEADER_VALUE.
 */
import { Agent, createServer, request } from 'node:http';

const port = Number(process.env.PORT ?? 0);
const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:1');
const headerName = process.env.HEADER_NAME ?? 'x-relayed-by';
const headerValue = process.env.HEADER_VALUE ?? 'bench';
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

const server = createServer((req, res) => {
  const headers: Record<string, string> = { [headerName]: headerValue };
  if (req.headers['content-type']) headers['content-type'] = req.headers['content-type'];
  if (req.headers['content-length']) headers['content-length'] = req.headers['content-length'];
  const out = request({ agent, host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/octet-stream' });
    answer.pipe(res);
  });
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"error":{"code":"bad_gateway","message":"upstream failed"}}');
  });
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
