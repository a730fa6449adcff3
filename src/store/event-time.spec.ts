import { eventTime } from './event-time';

describe('eventTime', () => {
  it('is the ISO text of every time, repeated or not, in any order', () => {
    const base = Date.UTC(2026, 11, 5, 1, 2, 3, 456);
    const times = [base, base, base + 1, base, base + 1000, -1, 0, 0, base + 86_400_000, base + 1, 8.64e15];
    for (const ms of times) expect(eventTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('throws for a time that is no date, also right after a valid one', () => {
    expect(eventTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(() => eventTime(Number.NaN)).toThrow(RangeError);
    expect(() => eventTime(8.64e15 + 1)).toThrow(RangeError);
    expect(eventTime(0)).toBe('1970-01-01T00:00:00.000Z');
  });
});
