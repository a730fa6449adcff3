// Benchmark-only preload (never used by the service): on SIGUSR2, collect garbage and report the
// process's memory on stderr as one JSON line, so a benchmark can measure live heap, not reserved heap.
process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') global.gc();
  process.stderr.write(`MEMORY ${JSON.stringify(process.memoryUsage())}\n`);
});
