/**
 * Promises that resolve when a condition over accumulating state becomes true: call `notify()` whenever
 * the state changes. Used by the SSE client and the webhook receiver.
 */
export function waiters<T>(state: T, describe: () => string) {
  const pending = new Set<() => void>();
  return {
    notify(): void {
      for (const check of [...pending]) check();
    },
    waitFor(predicate: (state: T) => boolean, timeoutMs = 5000): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate(state)) return;
          pending.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          pending.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting; so far:\n${describe()}`));
        }, timeoutMs);
        pending.add(check);
        check();
      });
    },
  };
}
