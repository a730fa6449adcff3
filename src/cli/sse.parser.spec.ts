import { SseParser } from './sse.parser';

describe('SseParser', () => {
  it('parses the server\'s frames: retry, comments, events, id-only heartbeats', () => {
    const parser = new SseParser();
    const frames = parser.push(
      'retry: 1000\n: connected\n\nid: 2\nevent: put\ndata: {"key":"a"}\n\n: heartbeat\nid: 7\n\n: heartbeat\n\n',
    );
    expect(frames).toEqual([{ retry: 1000 }, { id: '2', event: 'put', data: '{"key":"a"}' }, { id: '7' }]);
  });

  it('reassembles frames split anywhere, including between the CR and LF of a CRLF', () => {
    const text = 'id: 1\r\nevent: put\r\ndata: x\r\n\r\nid: 2\rdata: a\rdata: b\r\r';
    for (let size = 1; size <= text.length; size++) {
      const parser = new SseParser();
      const frames = [];
      for (let i = 0; i < text.length; i += size) frames.push(...parser.push(text.slice(i, i + size)));
      expect(frames).toEqual([{ id: '1', event: 'put', data: 'x' }, { id: '2', data: 'a\nb' }]);
    }
  });

  it('ignores a leading BOM, unknown fields, a malformed retry and an id with NUL', () => {
    const parser = new SseParser();
    expect(parser.push('\uFEFFdata: 1\nfoo: bar\nretry: soon\nid: a\0b\n\n')).toEqual([{ data: '1' }]);
  });

  it('reports comment lines when asked, as frames of their own or with the fields of their block', () => {
    const text = 'retry: 1000\nid: 0\n: connected\n\n: heartbeat\n\n: heartbeat\nid: 7\n\n:one\n:  two\n\n';
    expect(new SseParser({ comments: true }).push(text)).toEqual([
      { retry: 1000, id: '0', comment: 'connected' },
      { comment: 'heartbeat' },
      { comment: 'heartbeat', id: '7' },
      { comment: 'one\n two' },
    ]);
    // without the option the same stream yields only the fields
    expect(new SseParser().push(text)).toEqual([{ retry: 1000, id: '0' }, { id: '7' }]);
  });
});
