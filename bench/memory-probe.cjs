// A preload for benchmarks and tests (never used by the service): on a signal, collect garbage and report the process's
// memory on stderr as one JSON line, so a benchmark can measure live heap, not reserved heap. SIGUSR2 runs a
// full GC as V8 runs its own; SIGURG a last-resort GC (V8 runs one only near its heap limit), which also drops
// V8's compilation cache and optimised code and shrinks the young generation.
const report = (options) => () => {
  if (typeof global.gc === 'function') global.gc(options);
  process.stderr.write(`MEMORY ${JSON.stringify(process.memoryUsage())}\n`);
};
// The options are spelled out: gc(undefined) is not gc() and collects nothing before it returns (the report after it
// read the heap as it was, garbage included).
process.on('SIGUSR2', report({ type: 'major', execution: 'sync' }));
process.on('SIGURG', report({ type: 'major', execution: 'sync', flavor: 'last-resort' }));
