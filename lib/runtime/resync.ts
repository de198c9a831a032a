import { ConfigurationError, shownValue } from '../errors';
import { checkedWhere, firstWhereQuery, nextPage } from './where';
import { refuseUnknownOptions } from '../known-options';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { ColumnFilter, OrmAdapter } from '../ports';
import { goneSubjects, SeenIds } from './gone-subjects';
import { checkedIds } from './subject-ids';

export interface ResyncOptions {
  /** Only these subjects; default: every row of the subject entity. */
  ids?: Array<string | number | bigint>;
  /** Only subjects whose columns equal these values (TypeORM); not with `ids`. */
  where?: ColumnFilter;
  /** Publish even when the payload equals the stored one. */
  force?: boolean;
  /** Ids read and requested per page. Default 500. */
  batchSize?: number;
  /**
   * Called after each batch with the running total, and the number of subjects when it is known. The rows are
   * counted (one COUNT query) only for it.
   */
  onProgress?: (enqueued: number, total?: number) => void;
}

/**
 * Pages recorded in Redis at once while the next ones are read: waiting for each before paging on kept workers
 * idle between pages (an unchanged resync of 5,000 subjects spent most of its time there).
 */
const PAGES_IN_FLIGHT = 4;

/**
 * Backfill: requests an EnsurePublication for every subject (paged by primary key), for `ids`, or for the rows
 * `where` matches; `request(ids)` records one page of them.
 */
export async function resyncSubjects(
  adapter: OrmAdapter, machine: MachineDefinition, options: ResyncOptions, request: (ids: string[]) => Promise<void>,
): Promise<{ enqueued: number }> {
  refuseUnknownOptions(options, ['ids', 'where', 'force', 'batchSize', 'onProgress'], `resync(${machine.className}, options)`);
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ConfigurationError(`resync(${machine.className}): batchSize must be a whole number of at least 1, got ${shownValue(batchSize)}.`);
  }
  if (options.ids && options.where) throw new ConfigurationError('resync: pass `ids` or `where`, not both.');
  if (options.force !== undefined && typeof options.force !== 'boolean') {
    throw new ConfigurationError(`resync(${machine.className}): force must be true or false, got ${shownValue(options.force)}.`);
  }
  const call = `resync(${machine.className})`;
  const where = options.where === undefined ? undefined : checkedWhere(options.where, call, machine.subjectInfo);
  if (where && !adapter.pageIdsWhere) {
    throw new ConfigurationError(`resync({ where }) is not available with ${adapter.name} in this version: ` +
      'pass the subject ids instead (`ids`, or --ids on the command line).');
  }
  const pages = new PageWindow(request, options.onProgress);
  if (options.ids) {
    const ids = checkedIds(options.ids, machine.subjectInfo, `resync(${machine.className}, { ids })`);
    for (let i = 0; i < ids.length; i += batchSize) await pages.send(ids.slice(i, i + batchSize), ids.length);
    return pages.done();
  }
  // Only progress shows the total: without it a COUNT would delay the first page (a full scan on a large table).
  const count = () => adapter.countRows?.(machine.subject, where) ?? Promise.resolve(undefined);
  const total = options.onProgress ? await (where ? firstWhereQuery(call, machine.subjectInfo.name, where, count) : count()) : undefined;
  let after: string | undefined;
  // Only a full resync walks the stored subjects after the rows (gone-subjects.ts).
  const seen = where ? undefined : new SeenIds(adapter, machine);
  for (;;) {
    const ids = await nextPage(adapter, machine, call, where, after, batchSize);
    if (ids.length === 0) break;
    await pages.send(ids, total);
    after = ids[ids.length - 1];
    seen?.add(ids);
  }
  // Stored subjects whose rows went where no capture saw (gone-subjects.ts): their runs unpublish them.
  // They come after the count: the total grows with them (never shown below what was enqueued).
  if (seen) for await (const gone of goneSubjects(adapter, machine, seen)) await pages.send(gone, total);
  return pages.done();
}

/** Up to PAGES_IN_FLIGHT pages being recorded; the first failure stops the paging and is thrown once all settled. */
class PageWindow {
  private readonly inFlight: Array<Promise<void>> = [];
  private enqueued = 0;
  private sentFirst = false;
  private failure?: { error: unknown };

  constructor(
    private readonly request: (ids: string[]) => Promise<void>,
    private readonly onProgress?: (enqueued: number, total?: number) => void,
  ) {}

  async send(ids: string[], total: number | undefined): Promise<void> {
    const first = !this.sentFirst;
    this.sentFirst = true;
    this.inFlight.push(this.request(ids).then(() => {
      this.enqueued += ids.length;
      this.onProgress?.(this.enqueued, total === undefined ? undefined : Math.max(total, this.enqueued));
    }, (error: unknown) => { this.failure ??= { error }; }));
    // The first page alone: while its mark is answered, this process' idle runs (woken as it went out) send their
    // take right behind it. Paging on at once put the next pages' marks between the two (with better-sqlite3 the
    // pages are read on the event loop), and the first batch of an unchanged resync of 5,000 was taken 2-3 ms later.
    if (first) await this.inFlight.shift();
    while (this.inFlight.length >= PAGES_IN_FLIGHT) await this.inFlight.shift();
    if (this.failure) await this.rethrow();
  }

  async done(): Promise<{ enqueued: number }> {
    await this.rethrow();
    return { enqueued: this.enqueued };
  }

  private async rethrow(): Promise<void> {
    await Promise.all(this.inFlight.splice(0));
    if (this.failure) throw this.failure.error;
  }
}
