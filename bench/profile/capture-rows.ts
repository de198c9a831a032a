import 'reflect-metadata';
import { parseArgs } from '../throughput/config';
import { Prefixes } from '../throughput/runtime';
import { measureCaptureCost, measureMikroOrmCaptureCost } from '../throughput/scenarios/capture';

/*
 * node dist/bench/profile/capture-rows.js [typeorm|mikro-orm] [postgres|sqlite ...]: only the bench's capture rows, with
 * the full bench's pairs (31 TypeORM, 81 MikroORM), for a change to capture measured without the ten-minute run.
 */
async function main() {
  const orm = process.argv[2] === 'typeorm' ? 'typeorm' : 'mikro-orm';
  const kinds = process.argv.slice(3).length > 0 ? process.argv.slice(3) : ['postgres', 'sqlite'];
  const config = parseArgs([]);
  const prefixes = new Prefixes(config.redisUrl);
  try {
    for (const kind of kinds) {
      if (kind !== 'postgres' && kind !== 'sqlite') throw new Error(`capture-rows: databases are postgres and sqlite, not ${kind}`);
      const cost = orm === 'typeorm' ? await measureCaptureCost(config, kind, prefixes) : await measureMikroOrmCaptureCost(config, kind, prefixes);
      console.log(`${orm} ${kind}: ${cost.ratio.toFixed(3)}x (medians ${cost.capturedMs.toFixed(1)} vs ${cost.plainMs.toFixed(1)} ms); floor ${cost.floorRatio.toFixed(3)}x`);
    }
  } finally {
    await prefixes.cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
