import { Counter, Histogram, MeterProvider, metrics } from '@opentelemetry/api';

interface Instruments {
  provider: MeterProvider;
  runs: Counter;
  latency: Histogram;
}

let instruments: Instruments | undefined;

/** Instruments of the current global meter provider (no-op ones without an SDK), made once per provider. */
function current(): Instruments {
  const provider = metrics.getMeterProvider();
  if (instruments?.provider !== provider) {
    const meter = provider.getMeter('sync-machine', '0.1.0');
    instruments = {
      provider,
      runs: meter.createCounter('sync_machine.runs', { description: 'Pipeline job runs, by machine, step and outcome' }),
      latency: meter.createHistogram('sync_machine.publish.latency', {
        description: 'From the first commit a publish covers to the end of that publish', unit: 'ms',
      }),
    };
  }
  return instruments;
}

/**
 * Counts the item runs of a batch, one add per outcome: a run that failed counts as `failed`, whatever its result.
 * A subject handed back before its call (`spilled`) did not run: it is counted where it runs.
 */
export function countRuns(machine: string, step: string, results: ReadonlyArray<readonly [string, string, string | null, ...unknown[]]>): void {
  const counts = new Map<string, number>();
  for (const [, outcome, error] of results) {
    if (outcome === 'spilled' && error === null) continue;
    const counted = error === null ? outcome : 'failed';
    counts.set(counted, (counts.get(counted) ?? 0) + 1);
  }
  const runs = current().runs;
  for (const [outcome, n] of counts) {
    runs.add(n, { 'sync_machine.machine': machine, 'sync_machine.step': step, 'sync_machine.outcome': outcome });
  }
}

export function recordPublishLatency(machine: string, ms: number): void {
  if (ms >= 0) current().latency.record(ms, { 'sync_machine.machine': machine });
}
