'use strict';
/**
 * Reference server for `npm run bench` (bench/compare.bench.ts): the two seed routes of kv-store on bare
 * node:http over a Map, with the same answers as bench/reference/express.cjs. No framework at all: the ceiling
 * of Node itself on this machine.
 *
 *   GET  /get/<percent-encoded key>  200 {"key":k,"value":v}, or 404 {"status":"error","statusCode":404,"message":"Key not found"}
 *   POST /set  {"key":k,"value":v} (exactly those two properties) or a map of pairs
 *   GET  /health/live  200
 */
const http = require('node:http');

const store = new Map();

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function set(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      send(res, 400, { status: 'error', statusCode: 400, message: 'Malformed JSON body' });
      return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      send(res, 400, { status: 'error', statusCode: 400, message: 'Body must be a JSON object' });
      return;
    }
    const names = Object.keys(body);
    if (names.length === 2 && typeof body.key === 'string' && 'value' in body) {
      store.set(body.key, body.value);
      send(res, 200, { status: 'success', message: 'key-value pair is set successfully' });
      return;
    }
    for (const name of names) store.set(name, body[name]);
    send(res, 200, { status: 'success', message: 'key-value pairs are set successfully', count: names.length });
  });
}

const server = http.createServer((req, res) => {
  const url = req.url;
  if (req.method === 'GET' && url.startsWith('/get/')) {
    let key;
    try {
      key = decodeURIComponent(url.slice(5));
    } catch {
      send(res, 400, { status: 'error', statusCode: 400, message: 'Malformed key' });
      return;
    }
    if (!store.has(key)) send(res, 404, { status: 'error', statusCode: 404, message: 'Key not found' });
    else send(res, 200, { key, value: store.get(key) });
    return;
  }
  if (req.method === 'POST' && url === '/set') return set(req, res);
  if (req.method === 'GET' && url === '/health/live') return send(res, 200, { status: 'ok' });
  send(res, 404, { status: 'error', statusCode: 404, message: 'Not found' });
});

server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
