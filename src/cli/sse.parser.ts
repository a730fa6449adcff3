/** One block of an event stream, as far as the watch client cares: the fields it carried. */
export interface SseFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly retry?: number;
}

/**
 * Incremental parser for `text/event-stream` (WHATWG HTML, "Server-sent events"): feed it text as it arrives, in
 * chunks of any size, and it returns the frames each chunk completed. Lines end with LF, CRLF or CR (also split
 * across chunks); comments are dropped; repeated `data` lines join with LF. Frames that carry only an `id` (the
 * server's progress heartbeats) are returned too, because they move the position a resume starts from.
 */
export class SseParser {
  private buffer = '';
  private started = false;
  private frame: { id?: string; event?: string; data?: string; retry?: number } = {};
  private hasFields = false;
  private afterCR = false;

  /** Parses `text` and returns the frames it completed, in order. */
  push(text: string): SseFrame[] {
    // Decoding can yield nothing (half of a multi-byte character): that must not forget a pending CR.
    if (text === '') return [];
    if (!this.started) {
      this.started = true;
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    // The LF of a CRLF whose CR ended the previous chunk: that line was already taken.
    if (this.afterCR && text.startsWith('\n')) text = text.slice(1);
    this.afterCR = false;
    this.buffer += text;
    const frames: SseFrame[] = [];
    let start = 0;
    // Searched again only once passed: the server ends lines with LF alone, and looking for a CR that is not there
    // on every line would make a large chunk quadratic.
    let cr = -2;
    for (;;) {
      const lf = this.buffer.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = this.buffer.indexOf('\r', start);
      const end = cr >= 0 && (lf < 0 || cr < lf) ? cr : lf;
      if (end < 0) break;
      this.line(this.buffer.slice(start, end), frames);
      start = end + 1;
      if (end === cr) {
        if (start === this.buffer.length) this.afterCR = true;
        else if (this.buffer[start] === '\n') start++;
      }
    }
    this.buffer = this.buffer.slice(start);
    return frames;
  }

  private line(line: string, frames: SseFrame[]): void {
    if (line === '') {
      if (this.hasFields) frames.push(this.frame);
      this.frame = {};
      this.hasFields = false;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.frame.data = this.frame.data === undefined ? value : `${this.frame.data}\n${value}`;
        break;
      case 'event':
        this.frame.event = value;
        break;
      case 'id':
        if (value.includes('\0')) return;
        this.frame.id = value;
        break;
      case 'retry':
        if (!/^\d+$/.test(value)) return;
        this.frame.retry = Number(value);
        break;
      default:
        return;
    }
    this.hasFields = true;
  }
}
