/**
 * Polls `condition` every `intervalMs` until it holds or `timeoutMs` has passed. It never throws: the
 * caller asserts afterwards, so a failure reports what was expected, not just that time ran out.
 */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, intervalMs));
}
