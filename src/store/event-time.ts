let lastMs = Number.NaN;
let lastText = '';

/**
 * The ISO 8601 text of a change's time (epoch milliseconds), as events carry it (`ChangeEvent.time`). Changes made
 * within the same millisecond share one string: formatting a Date cost about 0.5 us per event (`new Date(ms)` and
 * `toISOString()`, a sixth of the memory store's own work per write), and each string was one more object for the
 * history to hold. A time that is not a valid date throws the RangeError `toISOString()` throws.
 */
export function eventTime(ms: number): string {
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastText;
}
