import { readFileSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { unbundleProfile, bundleSourceLookup, type CpuProfile } from './profile.js';
const dir = process.argv[2]!; const reqs = Number(process.argv[3] ?? 5564);
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
let p = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as CpuProfile;
const root = process.cwd(); const bundle = `${root}/dist/functions/index.js`;
p = unbundleProfile(p, pathToFileURL(bundle).href, root, bundleSourceLookup(bundle, root)!);
const nodes = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const dt = new Map<number, number>();
const samples = p.samples!; const deltas = p.timeDeltas!;
for (let i = 0; i < samples.length; i++) dt.set(samples[i]!, (dt.get(samples[i]!) ?? 0) + (deltas[i + 1] ?? 0));
const key = (n: any) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*\/(dist|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const self = new Map<string, number>(); const incl = new Map<string, number>();
for (const [id, t] of dt) {
  const n = nodes.get(id)!; self.set(key(n), (self.get(key(n)) ?? 0) + t);
  const seen = new Set<string>(); let cur: number | undefined = id;
  while (cur !== undefined) { const k = key(nodes.get(cur)!); if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t); } cur = parent.get(cur); }
}
const show = (m: Map<string, number>, filt: (k: string) => boolean, n: number) => [...m].filter(([k]) => filt(k)).sort((a, b) => b[1] - a[1]).slice(0, n).forEach(([k, t]) => console.log((t / reqs).toFixed(1).padStart(7), k));
const mode = process.argv[4] ?? 'relay';
console.log('--- inclusive'); show(incl, (k) => mode === 'all' || k.includes('dist/'), 60);
console.log('--- self'); show(self, (k) => mode === 'all' || k.includes('dist/'), 40);
// subtree of a given frame key prefix: self-time of descendants grouped by key
const target = process.argv[5];
if (target) {
  const under = new Map<string, number>();
  for (const [id, t] of dt) {
    let cur: number | undefined = id; let found = false;
    while (cur !== undefined) { if (key(nodes.get(cur)!).startsWith(target)) { found = true; break; } cur = parent.get(cur); }
    if (found) { const k = key(nodes.get(id)!); under.set(k, (under.get(k) ?? 0) + t); }
  }
  console.log('--- self under', target); show(under, () => true, 25);
}
const callersOf = process.argv[6];
if (callersOf) {
  const chains = new Map<string, number>();
  for (const [id, t] of dt) {
    if (!key(nodes.get(id)!).startsWith(callersOf)) continue;
    const chain: string[] = []; let cur = parent.get(id);
    for (let d = 0; d < 7 && cur !== undefined; d++) { chain.push(key(nodes.get(cur)!).split(' ')[0]!); cur = parent.get(cur); }
    const k = chain.join(' < '); chains.set(k, (chains.get(k) ?? 0) + t);
  }
  console.log('--- callers of', callersOf); show(chains, () => true, 12);
}
