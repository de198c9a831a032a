import 'reflect-metadata';
import { parseArgs } from '../throughput/config';
import { Prefixes } from '../throughput/runtime';
import { measureCaptureCost, measureMikroOrmCaptureCost } from '../throughput/scenarios/capture';

/*
 * node dist/bench/profile/capture.js sqlite|postgres [pairs] [typeorm|mikro-orm]: the bench's capture-overhead
 * scenario alone, on TypeORM (default) or MikroORM, with as many pairs of rounds as asked (default 15).
 */
async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'sqlite') as 'postgres' | 'sqlite';
  const pairs = Number(process.argv[3] ?? 15);
  const orm = process.argv[4] ?? 'typeorm';
  if (orm !== 'typeorm' && orm !== 'mikro-orm') throw new Error(`capture.js: the ORM is typeorm or mikro-orm, not ${orm}`);
  const config = { ...parseArgs([]), captureRounds: pairs, mikroOrmCaptureRounds: pairs };
  const prefixes = new Prefixes(config.redisUrl);
  try {
    const cost = orm === 'typeorm'
      ? await measureCaptureCost(config, kind, prefixes)
      : await measureMikroOrmCaptureCost(config, kind, prefixes);
    console.log(`${kind}, ${orm}: captured ${cost.capturedMs.toFixed(1)} ms vs plain ${cost.plainMs.toFixed(1)} ms (medians): ` +
      `${cost.ratio.toFixed(3)}x (median of ${pairs} paired rounds)`);
  } finally {
    await prefixes.cleanup();
  }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
