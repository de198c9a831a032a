import { BATCH_SIZE, BenchConfig, DatabaseKind, JOB_SLACK } from './config';
import type { BurstResult } from './scenarios/burst';
import type { CaptureCost } from './scenarios/capture';
import type { SubjectRates } from './scenarios/subjects';
import type { SettledMemory } from './worker-client';

/** Everything measured on one database. */
export interface DatabaseResult {
  kind: DatabaseKind;
  rates: SubjectRates;
  rawJobsPerSecond: number;
  capture: CaptureCost;
  /** The same transaction shape through the demo's MikroORM entities. */
  mikroOrmCapture: CaptureCost;
  burst: BurstResult;
}

const NAMES: Record<DatabaseKind, string> = { postgres: 'PostgreSQL', sqlite: 'SQLite' };

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (x: number) => `${x.toFixed(2)}×`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
const sum = (jobs: Map<string, number>) => [...jobs.values()].reduce((a, b) => a + b, 0);

/** The rows of the table, in the issue's order: [label, figure per database]. */
export function rows(config: BenchConfig, results: DatabaseResult[]): Array<[string, ...string[]]> {
  const row = (label: string, cell: (r: DatabaseResult) => string): [string, ...string[]] => [label, ...results.map(cell)];
  const b = config.burst;
  return [
    row(`changed subjects/s: sync-machine, ${int(config.orders)} orders changed once, worked off (concurrency ${config.concurrency}; median of ${config.changedRounds})`, (r) => int(r.rates.changed.syncMachine)),
    row('(a) hand-written loop: page 500 ids, load, `@Build` per row, compare sha256, post, remember', (r) => int(r.rates.changed.loop)),
    row('sync-machine ÷ (a) (goal ≥ 1.0×)', (r) => ratio(r.rates.changed.syncMachine / r.rates.changed.loop)),
    row('(a′) the same loop remembering a page\'s digests in one upsert after its posts (no goal)', (r) => `${int(r.rates.changed.pageLoop)} (sync-machine ÷ (a′) ${ratio(r.rates.changed.syncMachine / r.rates.changed.pageLoop)})`),
    row('(b) the same loop, customers batched through a DataLoader', (r) => int(r.rates.changed.batchedLoop)),
    row('sync-machine, machine whose `@Build` uses the same DataLoader', (r) => int(r.rates.changed.batchedSyncMachine)),
    row('sync-machine (DataLoader) ÷ (b) (goal ≥ 0.7×)', (r) => ratio(r.rates.changed.batchedSyncMachine / r.rates.changed.batchedLoop)),
    row('(c) raw Bee-Queue no-op jobs/s, same concurrency', (r) => int(r.rawJobsPerSecond)),
    row('sync-machine ÷ (c)', (r) => ratio(r.rates.changed.syncMachine / r.rawJobsPerSecond)),
    row(`unchanged resync subjects/s: sync-machine \`resync\` → \`drain\` (median of ${config.unchangedRounds}${config.unchangedWarmUpRounds ? `, after ${config.unchangedWarmUpRounds} warm-up rounds` : ''})`, (r) => int(r.rates.unchanged.syncMachine)),
    row('hand-written loop, nothing changed (pages, loads, builds, compares, posts nothing)', (r) => int(r.rates.unchanged.loop)),
    row('sync-machine ÷ loop, unchanged (goal ≥ 1.0×)', (r) => ratio(r.rates.unchanged.syncMachine / r.rates.unchanged.loop)),
    row('unchanged, sync-machine ÷ (a′) (it writes nothing either)', (r) => `${ratio(r.rates.unchanged.syncMachine / r.rates.unchanged.pageLoop)} (${int(r.rates.unchanged.pageLoop)}/s)`),
    row('unchanged, DataLoader machine ÷ DataLoader loop', (r) => `${ratio(r.rates.unchanged.batchedSyncMachine / r.rates.unchanged.batchedLoop)} (${int(r.rates.unchanged.batchedSyncMachine)} vs ${int(r.rates.unchanged.batchedLoop)})`),
    row('unchanged, a fresh app\'s machine (async `@Build`, the order\'s own columns) ÷ its loop', (r) => `${ratio(r.rates.leanUnchanged.syncMachine / r.rates.leanUnchanged.loop)} (${int(r.rates.leanUnchanged.syncMachine)} vs ${int(r.rates.leanUnchanged.loop)})`),
    row(`burst: ${int(b.writes)} writes over ${int(config.burstOrders)} orders, transactions of ${b.perTransaction}, worker running: orders whose final payload changed`, (r) => int(r.burst.finalChanged)),
    row('burst: API calls ÷ orders whose final payload changed (must be 1.00)', (r) => `${(r.burst.syncMachine.calls / Math.max(1, r.burst.finalChanged)).toFixed(2)} (${int(r.burst.syncMachine.calls)} calls)`),
    row('burst: queue jobs run (per step)', (r) => `${int(sum(r.burst.syncMachine.jobs))} (${[...r.burst.syncMachine.jobs].map(([s, n]) => `${s} ${int(n)}`).join(', ')})`),
    row(`burst: jobs limit with batchSize ${BATCH_SIZE}: ceil(distinct subjects ÷ ${BATCH_SIZE}) + ${JOB_SLACK}`, (r) => int(jobLimit(r))),
    row('burst: seconds from first write to drained', (r) => r.burst.syncMachine.seconds.toFixed(1)),
    row('(d) naive, a job per write (load, build, post): API calls / jobs / seconds', (r) => `${int(r.burst.naive.calls)} / ${int(r.burst.naive.jobs)} / ${r.burst.naive.seconds.toFixed(1)}`),
    row('(d) ÷ sync-machine: API calls / jobs / time', (r) => [
      r.burst.naive.calls / Math.max(1, r.burst.syncMachine.calls), r.burst.naive.jobs / Math.max(1, sum(r.burst.syncMachine.jobs)),
      r.burst.naive.seconds / r.burst.syncMachine.seconds,
    ].map(ratio).join(' / ')),
    row(`capture overhead, ${int(config.captureRows)}-row transaction: captured ÷ plain (median of ${config.captureRounds} pairs of rounds; goal ≤ 1.05×)`, (r) => `${ratio(r.capture.ratio)} (medians ${int(r.capture.capturedMs)} vs ${int(r.capture.plainMs)} ms)`),
    row('… its floor: the same rounds whose only subscriber awaits one Redis PING per commit, the least SPEC §2.1\'s awaited enqueue allows (no goal)', (r) => ratio(r.capture.floorRatio)),
    row(`capture overhead, the same on MikroORM: one \`em.transactional()\` flushing ${int(config.captureRows)} changed orders (median of ${config.mikroOrmCaptureRounds} pairs; goal ≤ 1.05×)`, (r) => `${ratio(r.mikroOrmCapture.ratio)} (medians ${int(r.mikroOrmCapture.capturedMs)} vs ${int(r.mikroOrmCapture.plainMs)} ms)`),
    row('… its floor, the same on MikroORM (no goal)', (r) => ratio(r.mikroOrmCapture.floorRatio)),
    row(`idle latency commit → API, p50 / p99 (${config.latencySamples} samples; goal ≤ 15 / 50 ms)`, (r) => `${r.burst.latency.p50.toFixed(1)} / ${r.burst.latency.p99.toFixed(1)} ms`),
    row('worker RSS at rest, start → end of the burst (peak while it ran; after priming, before a warm-up burst of the same size)', (r) => {
      const s = r.burst.syncMachine;
      return `${mb(s.start.rss)} → ${mb(s.end.rss)} (${change(s.start.rss, s.end.rss)}; peak ${mb(s.rssPeak)}; primed ${mb(s.primed.rss)})`;
    }),
    row('… of which V8\'s young generation, committed and given back on V8\'s own schedule: start → end', (r) => {
      const s = r.burst.syncMachine;
      return `${mb(s.start.young)} → ${mb(s.end.young)} (primed ${mb(s.primed.young)})`;
    }),
    row('worker RSS outside the young generation, start → end (goal ±10%)', (r) => {
      const { primed, start, end } = r.burst.syncMachine;
      return `${mb(kept(start))} → ${mb(kept(end))} (${change(kept(start), kept(end))}; after priming ${mb(kept(primed))}, ` +
        `${change(kept(primed), kept(end))} from there)`;
    }),
    row('(d) naive worker RSS, start → end (change; change outside the young generation)', (r) => {
      const { start, end } = r.burst.naive;
      return `${mb(start.rss)} → ${mb(end.rss)} (${change(start.rss, end.rss)}; ${change(kept(start), kept(end))})`;
    }),
  ];
}

/** What a worker keeps: RSS less V8's young generation, whose size V8 sets by its own schedule. */
function kept(memory: SettledMemory): number {
  return memory.rss - memory.young;
}

function change(from: number, to: number): string {
  return signed((to / from - 1) * 100);
}

export function jobLimit(r: DatabaseResult): number {
  return Math.ceil(r.burst.distinctSubjects / BATCH_SIZE) + JOB_SLACK;
}

export function markdownTable(config: BenchConfig, results: DatabaseResult[]): string {
  const header = ['figure', ...results.map((r) => NAMES[r.kind])];
  const lines = [header, header.map((_, i) => (i === 0 ? '---' : '---:')), ...rows(config, results)];
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** The exact counts that must not regress; each failure is a sentence naming the database and both numbers. */
export function regressions(config: BenchConfig, results: DatabaseResult[]): string[] {
  const failures: string[] = [];
  for (const r of results) {
    if (r.burst.syncMachine.calls !== r.burst.finalChanged) {
      failures.push(`${NAMES[r.kind]}: the burst made ${r.burst.syncMachine.calls} API calls for ${r.burst.finalChanged} orders whose final payload changed (must be equal)`);
    }
    const jobs = sum(r.burst.syncMachine.jobs);
    if (config.checkJobs && jobs > jobLimit(r)) {
      failures.push(`${NAMES[r.kind]}: the burst ran ${jobs} queue jobs, more than ceil(${r.burst.distinctSubjects} ÷ ${BATCH_SIZE}) + ${JOB_SLACK} = ${jobLimit(r)}`);
    }
  }
  return failures;
}
