'use strict';
/**
 * Reference server for `npm run bench` (bench/compare.bench.ts): the two seed routes of kv-store in plain
 * Express 5 over a Map, with express.json() body parsing and Express's defaults, nothing else. It is what the
 * Express platform the service runs on can do at best, so the service's requests/s are compared with it.
 *
 *   GET  /get/:key  200 {"key":k,"value":v}, or 404 {"status":"error","statusCode":404,"message":"Key not found"}
 *   POST /set       {"key":k,"value":v} (exactly those two properties) or a map of pairs; answers as the service does
 *   GET  /health/live  200 (so the bench can wait for it like for the service)
 *
 * No validation, no limits, no logging, no metrics: a ceiling, not a product. PORT and HOST from the environment.
 */
const express = require('express');

const store = new Map();
const app = express();
app.use(express.json());

app.get('/health/live', (_req, res) => {
  res.json({ status: 'ok' });
});

app.get('/get/:key', (req, res) => {
  const key = req.params.key;
  if (!store.has(key)) {
    res.status(404).json({ status: 'error', statusCode: 404, message: 'Key not found' });
    return;
  }
  res.json({ key, value: store.get(key) });
});

app.post('/set', (req, res) => {
  const body = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    res.status(400).json({ status: 'error', statusCode: 400, message: 'Body must be a JSON object' });
    return;
  }
  const names = Object.keys(body);
  if (names.length === 2 && typeof body.key === 'string' && 'value' in body) {
    store.set(body.key, body.value);
    res.json({ status: 'success', message: 'key-value pair is set successfully' });
    return;
  }
  for (const name of names) store.set(name, body[name]);
  res.json({ status: 'success', message: 'key-value pairs are set successfully', count: names.length });
});

const server = app.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
