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

export function countRun(machine: string, step: string, outcome: string): void {
  current().runs.add(1, { 'sync_machine.machine': machine, 'sync_machine.step': step, 'sync_machine.outcome': outcome });
}

export function recordPublishLatency(machine: string, ms: number): void {
  if (ms >= 0) current().latency.record(ms, { 'sync_machine.machine': machine });
}
