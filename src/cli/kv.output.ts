import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** The part of a stream the output needs (process.stdout and process.stderr in the program, buffers in tests). */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface OutputStreams {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

/** The narrowest a shrunk table column gets, so a narrow terminal still shows the start of each value. */
const MIN_SHRUNK_WIDTH = 12;
const COLUMN_GAP = '  ';

/**
 * Everything the client prints goes through here: results on stdout (one JSON document per command in JSON mode,
 * readable text otherwise), notices and errors on stderr. Colours only where a person reads: on a terminal, and
 * never when NO_COLOR is set.
 */
export class Output {
  private readonly colour: boolean;
  private readonly errorColour: boolean;

  constructor(
    readonly json: boolean,
    private readonly streams: OutputStreams,
    env: NodeJS.ProcessEnv,
  ) {
    const allowed = env.NO_COLOR === undefined;
    this.colour = allowed && streams.stdout.isTTY === true;
    this.errorColour = allowed && streams.stderr.isTTY === true;
  }

  /** `text` in `style` when stdout is coloured, else unchanged. */
  style(style: Style, text: string): string {
    return this.colour ? styleText(style, text, { validateStream: false }) : text;
  }

  /** One line of human-readable output. */
  line(text = ''): void {
    this.streams.stdout.write(`${text}\n`);
  }

  /** One JSON document on one line (JSON mode). */
  document(value: unknown): void {
    this.line(JSON.stringify(value));
  }

  /** Connection news and hints, kept off stdout so it stays parseable. */
  notice(text: string): void {
    this.streams.stderr.write(`${this.errorColour ? styleText('yellow', text, { validateStream: false }) : text}\n`);
  }

  /** A failure, as the single line a script's log should show. */
  error(text: string): void {
    const line = `kv: ${text}`;
    this.streams.stderr.write(`${this.errorColour ? styleText('red', line, { validateStream: false }) : line}\n`);
  }

  /**
   * Aligned columns under a bold header. On a terminal the column `shrink` is cut (with …) so each row fits the
   * terminal's width; piped output keeps every cell whole.
   */
  table(header: readonly string[], rows: readonly (readonly string[])[], shrink?: number): void {
    const widths = header.map((h) => h.length);
    for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i], cell.length)));
    const columns = this.streams.stdout.isTTY ? this.streams.stdout.columns : undefined;
    if (columns !== undefined && columns > 0 && shrink !== undefined) {
      const others = widths.reduce((sum, w, i) => (i === shrink ? sum : sum + w + COLUMN_GAP.length), 0);
      widths[shrink] = Math.min(widths[shrink], Math.max(MIN_SHRUNK_WIDTH, columns - others - 1));
    }
    const format = (cells: readonly string[]) =>
      cells
        .map((cell, i) => {
          const fitted = cell.length > widths[i] ? `${cell.slice(0, widths[i] - 1)}…` : cell;
          return i === cells.length - 1 ? fitted : fitted.padEnd(widths[i]);
        })
        .join(COLUMN_GAP);
    this.line(this.style('bold', format(header)));
    for (const row of rows) this.line(format(row));
  }
}

/** A value for people: strings as they are, anything else as JSON. */
export const displayValue = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));
