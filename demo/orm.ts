import type { DemoOrm } from './shop-port';

export const DEMO_ORMS = ['typeorm', 'mikro-orm'] as const;
export type DemoOrmName = (typeof DEMO_ORMS)[number];

/** `--orm typeorm|mikro-orm` (main) or SYNC_DEMO_ORM (how main tells the worker process); TypeORM by default. */
export function ormFromArguments(argv = process.argv, env = process.env): DemoOrmName {
  const flag = argv.indexOf('--orm');
  const name = flag >= 0 ? argv[flag + 1] : env.SYNC_DEMO_ORM ?? 'typeorm';
  if (!(DEMO_ORMS as readonly string[]).includes(name ?? '')) {
    throw new Error(`--orm must be one of ${DEMO_ORMS.join(', ')}, got ${name ?? 'nothing'}`);
  }
  return name as DemoOrmName;
}

/** Loaded on demand, so a run on one ORM never loads the other. */
export function loadOrm(name: DemoOrmName): DemoOrm {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return name === 'mikro-orm' ? require('./mikro-orm').mikroOrm : require('./typeorm').typeOrm;
}
