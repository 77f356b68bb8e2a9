import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { writeH5 } from '../server/helpers.js';
import { startServerProcess, tempDir } from '../server/jobs-helpers.js';

// Load: N clients, each sending /meta and /data requests one after the other for a while, to a
// whole server process. Reports p50/p99 latency per endpoint and the error count; the baseline
// is one client alone on the same server, measured first in the same run.
//   npm run bench:load [-- --seconds 60 --clients 32]

export interface LoadReport {
  clients: number;
  requests: number;
  errors: string[];
  perSecond: number;
  latency: Record<string, { p50: number; p99: number; n: number }>;
}

const FRAMES = 40;

/** what a browsing user asks for: group and dataset metadata, frames, a profile, a whole axis */
function targets(i: number): [string, string] {
  const frame = i % FRAMES;
  const choices: [string, string][] = [
    ['meta', '/meta?file=scan.h5&path=/entry'],
    ['meta', `/meta?file=scan.h5&path=/entry/data/frames`],
    ['data', `/data?file=scan.h5&path=/entry/data/frames&format=bin&selection=${frame},:,:`],
    ['data', `/data?file=scan.h5&path=/entry/data/frames&selection=${frame},${i % 128},:`],
    ['data', '/data?file=scan.h5&path=/entry/data/angle&format=json'],
    ['data', `/data?file=scan.h5&path=/entry/data/frames&format=bin&selection=:,${i % 128},:`]
  ];
  return choices[i % choices.length];
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function drive(
  url: string,
  token: string,
  clients: number,
  seconds: number
): Promise<LoadReport> {
  const samples = new Map<string, number[]>();
  const errors: string[] = [];
  const end = Date.now() + seconds * 1000;
  let requests = 0;
  const client = async (c: number): Promise<void> => {
    for (let i = c * 7; Date.now() < end; i++) {
      const [kind, target] = targets(i);
      const t0 = performance.now();
      try {
        const r = await fetch(`${url}${target}`, {
          headers: { Authorization: `token ${token}` },
          signal: AbortSignal.timeout(60_000)
        });
        await r.arrayBuffer();
        if (r.status !== 200) {
          errors.push(`${target}: ${r.status}`);
        }
      } catch (err) {
        errors.push(`${target}: ${String(err)}`);
      }
      requests++;
      const list = samples.get(kind) ?? [];
      list.push(performance.now() - t0);
      samples.set(kind, list);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const elapsed = (performance.now() - t0) / 1000;
  const latency: LoadReport['latency'] = {};
  for (const [kind, list] of samples) {
    list.sort((a, b) => a - b);
    latency[kind] = { p50: percentile(list, 0.5), p99: percentile(list, 0.99), n: list.length };
  }
  return { clients, requests, errors, perSecond: requests / elapsed, latency };
}

/** Starts a server over a generated scan, runs one client then `clients` clients. */
export async function runLoad(options: {
  seconds: number;
  clients: number;
  baselineSeconds: number;
}): Promise<{ baseline: LoadReport; load: LoadReport }> {
  const dir = tempDir('nexus-load-');
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  writeH5(
    path.join(root, 'scan.h5'),
    `e = f.create_group('entry'); e.attrs['NX_class'] = 'NXentry'
d = e.create_group('data'); d.attrs['NX_class'] = 'NXdata'; d.attrs['signal'] = 'frames'
rng = np.random.default_rng(8)
d.create_dataset('frames', data=rng.poisson(5, (${FRAMES}, 128, 256)).astype('<u2'), chunks=(1, 128, 256), compression='gzip')
d['angle'] = np.linspace(0, 20, ${FRAMES})`
  );
  const server = await startServerProcess(path.join(dir, 'state'), root);
  try {
    // the first requests start the workers and open the file: not part of either measurement
    await drive(server.url, server.token, 1, 0.5);
    const baseline = await drive(server.url, server.token, 1, options.baselineSeconds);
    const load = await drive(server.url, server.token, options.clients, options.seconds);
    return { baseline, load };
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatReport(baseline: LoadReport, load: LoadReport): string {
  const lines = [
    `load: ${load.clients} clients, ${load.requests} requests, ${load.perSecond.toFixed(0)}/s, ${load.errors.length} errors` +
      ` (baseline 1 client: ${baseline.perSecond.toFixed(0)}/s, ${baseline.errors.length} errors)`
  ];
  for (const [kind, l] of Object.entries(load.latency)) {
    const b = baseline.latency[kind];
    lines.push(
      `  /${kind}: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms (n=${l.n}); ` +
        `1 client p50 ${b?.p50.toFixed(1)} ms → ratio p50 ${(l.p50 / b?.p50).toFixed(1)}x, p99 ${(l.p99 / b?.p99).toFixed(1)}x`
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = new Command('load_bench')
    .option('--seconds <s>', 'duration of the loaded run', '60')
    .option('--clients <n>', 'concurrent clients', '32')
    .parse()
    .opts<{ seconds: string; clients: string }>();
  const { baseline, load } = await runLoad({
    seconds: Number(o.seconds),
    clients: Number(o.clients),
    baselineSeconds: 10
  });
  console.log(formatReport(baseline, load));
  for (const e of load.errors.slice(0, 10)) {
    console.log(`  error: ${e}`);
  }
  process.exitCode = load.errors.length + baseline.errors.length === 0 ? 0 : 1;
}
