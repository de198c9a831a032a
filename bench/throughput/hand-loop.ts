import { DataSource, EntityTarget, In, MoreThan } from 'typeorm';
import { canonicalJson, digestOf } from 'sync-machine';
import { BenchDigest } from './entities';
import { mapLimit } from './measure';

/** What a developer would write instead of sync-machine: the honest baseline (STYLE.md habit 14). */
export interface HandLoop<Row extends { id: number }> {
  /** Key of this loop's remembered digests. */
  name: string;
  dataSource: DataSource;
  /** Loaded with `find({ where: { id: In(ids) } })`: eager relations come along, as the machine's subject load. */
  entity: EntityTarget<Row>;
  /** The machine's own @Build, called per row, all rows of a page at once (so a DataLoader in it batches). */
  build(row: Row): unknown;
  publish(row: Row, payload: unknown): Promise<void>;
  pageSize: number;
  concurrency: number;
  /**
   * Remembers a page's digests with one upsert after its posts, instead of one upsert per post: the leaner loop a
   * user may write (an outside trial kept them in memory), a crash then re-posting at most one page.
   */
  rememberPerPage?: boolean;
}

/**
 * Pages ids, loads the page's rows and its remembered digests (one query each), builds every row, posts those
 * whose sha256 differs (at most `concurrency` at once) and remembers each digest once its post succeeded (or the
 * page's, once its posts all did: rememberPerPage).
 */
export async function runHandLoop<Row extends { id: number }>(loop: HandLoop<Row>, subjects: number): Promise<{ checked: number; posted: number }> {
  const rows = loop.dataSource.getRepository<Row>(loop.entity);
  const digests = loop.dataSource.getRepository(BenchDigest);
  let after = 0;
  let checked = 0;
  let posted = 0;
  // Bounded: one page more than the rows there are, then it must have ended.
  for (let page = 0; page <= Math.ceil(subjects / loop.pageSize); page++) {
    const ids = (await rows.find({
      select: { id: true } as never, where: { id: MoreThan(after) } as never, order: { id: 'ASC' } as never,
      take: loop.pageSize, loadEagerRelations: false,
    })).map((r) => r.id);
    if (ids.length === 0) return { checked, posted };
    after = ids[ids.length - 1];
    const [loaded, remembered] = await Promise.all([
      rows.find({ where: { id: In(ids) } as never }),
      digests.findBy({ name: loop.name, subjectId: In(ids.map(String)) }),
    ]);
    const known = new Map(remembered.map((d) => [d.subjectId, d.digest]));
    const payloads = await Promise.all(loaded.map((row) => loop.build(row)));
    const changed = loaded
      .map((row, i) => ({ row, payload: payloads[i], digest: digestOf(canonicalJson(payloads[i])) }))
      .filter((x) => known.get(String(x.row.id)) !== x.digest);
    const rememberedPage: Array<{ name: string; subjectId: string; digest: string }> = [];
    await mapLimit(changed, loop.concurrency, async ({ row, payload, digest }) => {
      await loop.publish(row, payload);
      const remembered = { name: loop.name, subjectId: String(row.id), digest };
      if (loop.rememberPerPage) rememberedPage.push(remembered);
      else await digests.upsert(remembered, ['name', 'subjectId']);
    });
    if (rememberedPage.length > 0) await digests.upsert(rememberedPage, ['name', 'subjectId']);
    checked += loaded.length;
    posted += changed.length;
  }
  throw new Error(`bench: ${loop.name} paged past ${subjects} rows: the id paging does not advance`);
}
