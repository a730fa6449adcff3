import type { Request, Response } from 'express';
import pino from 'pino';
import { Writable } from 'node:stream';
import { accessLog, flushAccessLogs } from './logger.options';

/** A pino logger whose lines are collected, as the application's writes them to stdout. */
function capturingLogger(level = 'info') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

const request = (url: string, id: string | undefined = 'req-1') =>
  ({ method: 'GET', originalUrl: url, id, route: { path: '/get/:key' } }) as unknown as Request;
const response = (statusCode: number, writableFinished = true) => ({ statusCode, writableFinished }) as unknown as Response;

describe('accessLog', () => {
  it('writes the line pino itself would write for the same fields', async () => {
    const { logger, lines } = capturingLogger();
    const url = '/get/a%22b?x=\u00e9\n';
    accessLog(logger).observe(request(url), response(200), 0.0123);
    logger.info({ req: { id: 'req-1', method: 'GET', url }, res: { statusCode: 200 }, responseTime: 12, route: '/get/:key' }, 'request completed');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    // pino wrote its line at once; ours waited for the end of the turn.
    const [pinos, ours] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(Object.keys(ours)).toEqual(Object.keys(pinos));
    expect({ ...ours, time: 0 }).toEqual({ ...pinos, time: 0 });
    expect(typeof ours.time).toBe('number');
  });

  it("writes a turn's lines to the stream in one write, at the end of the turn, in order", async () => {
    const writes: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        writes.push(chunk.toString());
        done();
      },
    });
    const log = accessLog(pino({ level: 'info' }, sink)).observe;
    for (const key of ['a', 'b', 'c']) log(request(`/get/${key}`), response(200), 0.001);
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(writes[0].split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { req: { url: string } }).req.url)).toEqual(['/get/a', '/get/b', '/get/c']);
    log(request('/get/d'), response(200), 0.001);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
  });

  it('hands the lines of the last turn to the stream when the process exits, and when closed', () => {
    const writes: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        writes.push(chunk.toString());
        done();
      },
    });
    const log = accessLog(pino({ level: 'info' }, sink));
    log.observe(request('/get/last'), response(200), 0.001);
    expect(process.listeners('exit')).toContain(flushAccessLogs);
    flushAccessLogs();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('"url":"/get/last"');
    log.observe(request('/get/closing'), response(200), 0.001);
    log.close();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toContain('"url":"/get/closing"');
    // Closed, it is no longer among what the exit writes out: a line after that waits for its turn's end only.
    log.observe(request('/get/late'), response(200), 0.001);
    flushAccessLogs();
    expect(writes).toHaveLength(2);
  });

  it('uses the level of the status (5xx error, 4xx warn, probes debug) and honours LOG_LEVEL', async () => {
    const { logger, lines } = capturingLogger('info');
    const log = accessLog(logger).observe;
    log(request('/get/a'), response(503), 0.001);
    log(request('/get/a'), response(404), 0.001);
    log(request('/health/ready'), response(200), 0.001);
    log(request('/get/a'), response(200, false), 0.001);
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => JSON.parse(l) as { level: number; msg: string }).map(({ level, msg }) => [level, msg])).toEqual([
      [50, 'request errored'],
      [40, 'request completed'],
      [30, 'request aborted'],
    ]);
  });
});
