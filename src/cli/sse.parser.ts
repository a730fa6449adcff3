/** One block of an event stream: the fields it carried. */
export interface SseFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly retry?: number;
  /** The block's comment lines (`: text`), joined with LF; only with the `comments` option. */
  readonly comment?: string;
}

export interface SseParserOptions {
  /**
   * Report comment lines as `comment` (a block of comments alone, such as the server's `: heartbeat`, is then a frame
   * too). Off by default: a client has no use for them, and the standard tells it to ignore them.
   */
  readonly comments?: boolean;
}

/**
 * Incremental parser for `text/event-stream` (WHATWG HTML, "Server-sent events"): feed it text as it arrives, in
 * chunks of any size, and it returns the frames each chunk completed. Lines end with LF, CRLF or CR (also split
 * across chunks); comments are dropped unless asked for; repeated `data` lines join with LF. Frames that carry only
 * an `id` (the server's progress heartbeats) are returned too, because they move the position a resume starts from.
 */
export class SseParser {
  private buffer = '';
  private started = false;
  private frame: { -readonly [F in keyof SseFrame]: SseFrame[F] } = {};
  private hasFields = false;
  private afterCR = false;

  constructor(private readonly options: SseParserOptions = {}) {}

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
    if (line.startsWith(':')) {
      if (!this.options.comments) return;
      this.frame.comment = append(this.frame.comment, withoutLeadingSpace(line.slice(1)));
      this.hasFields = true;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : withoutLeadingSpace(line.slice(colon + 1));
    switch (field) {
      case 'data':
        this.frame.data = append(this.frame.data, value);
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

const withoutLeadingSpace = (text: string): string => (text.startsWith(' ') ? text.slice(1) : text);

/** Repeated lines of one field join with LF. */
const append = (before: string | undefined, line: string): string => (before === undefined ? line : `${before}\n${line}`);
