// Preloaded (--import) into a server by test/bench/mem-probe.ts only, never into the product: on SIGUSR2 it runs
// full GCs (the process needs --expose-gc) and writes memoryUsage, V8's heap spaces and VmHWM to
// $MEM_PROBE_DIR/<pid>.json; with MEM_PROBE_SNAPSHOT=1 also a heap snapshot, <pid>.heapsnapshot.
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import v8 from 'node:v8';

const dir = process.env.MEM_PROBE_DIR ?? '/tmp';
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  globalThis.gc();
  globalThis.gc();
  const after = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
  const spaces = Object.fromEntries(
    v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]),
  );
  const code = v8.getHeapCodeStatistics();
  if (process.env.MEM_PROBE_SNAPSHOT === '1') v8.writeHeapSnapshot(`${dir}/${process.pid}.heapsnapshot`);
  writeFileSync(
    `${dir}/${process.pid}.json`,
    JSON.stringify({ before, after, spaces, code, vmHWMKiB: kib('VmHWM'), vmRSSKiB: kib('VmRSS') }),
  );
});
