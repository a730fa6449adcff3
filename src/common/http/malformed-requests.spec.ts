import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { answerClientErrorsWithJson, originFormOf } from './malformed-requests';

describe('originFormOf', () => {
  it.each([
    ['/keys/a?x=1', 'GET', '/keys/a?x=1'],
    ['http://example.com/keys/a?x=1', 'GET', '/keys/a?x=1'],
    ['https://example.com', 'GET', '/'],
    ['*', 'OPTIONS', '*'],
    ['*', 'GET', null],
    ['example.com:443', 'CONNECT', null],
    ['ftp://example.com/a', 'GET', null],
  ])('%s (%s) → %j', (target, method, expected) => {
    expect(originFormOf(target, method)).toBe(expected);
  });
});

describe('answerClientErrorsWithJson', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer({ maxHeaderSize: 1024 }, (_req, res) => res.end('ok'));
    answerClientErrorsWithJson(server, 1024, 1000);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const send = (raw: string) =>
    new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(raw));
      let data = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (data += chunk));
      socket.on('close', () => resolve(data));
    });

  it('answers a request that is not HTTP with the JSON 400 and closes', async () => {
    const answer = await send('NONSENSE\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain('Connection: close');
    expect(answer.split('\r\n\r\n')[1]).toBe('{"status":"error","statusCode":400,"message":"Malformed HTTP request"}');
  });

  it('answers a head over the limit with the JSON 431 naming the setting, without a body for HEAD', async () => {
    const big = `X-Big: ${'a'.repeat(2048)}\r\n`;
    expect((await send(`GET / HTTP/1.1\r\nHost: x\r\n${big}\r\n`)).split('\r\n\r\n')[1]).toBe(
      '{"status":"error","statusCode":431,"message":"Request head exceeds HTTP_MAX_HEADER_BYTES=1024"}',
    );
    const head = await send(`HEAD / HTTP/1.1\r\nHost: x\r\n${big}\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(head.split('\r\n\r\n')[1]).toBe('');
  });

  it('answers an unsupported Expect in JSON (417) instead of leaving the body unread on an open connection', async () => {
    const answer = await send('POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 417 /);
    expect(answer).toContain('"message":"Expectation not supported: teapot"');
  });
});
