import 'reflect-metadata';
import { parseArgs } from '../throughput/config';
import { Prefixes } from '../throughput/runtime';
import { measureCaptureCost } from '../throughput/scenarios/capture';

/* node dist/bench/profile/capture.js sqlite|postgres [rounds]: the bench's capture-overhead scenario alone, more rounds. */
async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'sqlite') as 'postgres' | 'sqlite';
  const config = { ...parseArgs([]), captureRounds: Number(process.argv[3] ?? 15) };
  const prefixes = new Prefixes(config.redisUrl);
  try {
    const cost = await measureCaptureCost(config, kind, prefixes);
    console.log(`${kind}: captured ${cost.capturedMs.toFixed(1)} ms vs plain ${cost.plainMs.toFixed(1)} ms (medians): ${cost.ratio.toFixed(3)}x (median of paired rounds)`);
  } finally {
    await prefixes.cleanup();
  }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
