import { ConfigurationError, describeError } from '../errors';
import { refuseUnknownOptions } from '../known-options';
import { checkedWhere, nextPage } from './where';
import type { MachineDefinition } from '../metadata/machine-definition';
import { callHook } from '../pipeline/call-hook';
import type { ColumnFilter, OrmAdapter, StoredPayload } from '../ports';
import { canonicalJson, digestOf, NotJsonError } from '../store/canonical-json';
import { goneSubjects, SeenIds } from './gone-subjects';
import { checkedIds } from './subject-ids';

export interface ReconcileOptions {
  /** Only these subjects; default: every row of the subject entity, paged by primary key. */
  ids?: Array<string | number | bigint>;
  /** Only subjects whose columns equal these values; not with `ids`. */
  where?: ColumnFilter;
  /** Check at most this many subjects (the first ones in primary-key order, or of `ids`). */
  limit?: number;
  /** Subjects loaded and built per page. Default 100. */
  batchSize?: number;
}

/** A subject whose current payload differs from the one stored: a publish would send `built`. */
export interface DifferingSubject {
  subjectId: string;
  /** The payload last published; absent when never published, or when the store keeps digests only. */
  stored?: unknown;
  storedDigest?: string;
  built: unknown;
  builtDigest: string;
}

/** A subject that would not be published: `@CheckPublishable` says no, or the row is gone. */
export interface UnpublishableSubject {
  subjectId: string;
  reason: 'not_publishable' | 'gone';
  /** It was published before: a run would call `@Unpublish` and delete the stored payload. */
  wouldUnpublish: boolean;
  stored?: unknown;
}

/** What `reconcile()` found; nothing was published and nothing written. */
export interface ReconcileReport {
  machine: string;
  /** The subject entity's name. */
  subject: string;
  /** Subjects looked at. */
  checked: number;
  /** Built payload equals the stored one: a run would do nothing. */
  unchanged: number;
  differing: DifferingSubject[];
  unpublishable: UnpublishableSubject[];
  /** A hook threw or the payload is not JSON: a run would fail the same way. */
  errors: Array<{ subjectId: string; error: string }>;
  /** `limit` stopped the walk before the last subject. */
  limited: boolean;
}

type Verdict =
  | { kind: 'unchanged' }
  | { kind: 'differing'; entry: DifferingSubject }
  | { kind: 'unpublishable'; entry: UnpublishableSubject }
  | { kind: 'error'; entry: { subjectId: string; error: string } };

/**
 * The dry run of EnsurePublication: loads each subject (a page per query, as a run does), checks it, builds its
 * payload and compares the digest with the store's. It never calls `@Publish`/`@Unpublish`, writes no row and
 * touches no Redis key.
 */
export async function reconcileMachine(
  adapter: OrmAdapter, machine: MachineDefinition, options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  refuseUnknownOptions(options, ['ids', 'where', 'limit', 'batchSize'], `reconcile(${machine.className}, options)`);
  const { ids } = options;
  if (ids && options.where) throw new ConfigurationError('reconcile: pass `ids` or `where`, not both.');
  const where = options.where === undefined ? undefined : checkedWhere(options.where, `reconcile(${machine.className})`, machine.subjectInfo);
  if (where && !adapter.pageIdsWhere) {
    throw new ConfigurationError(`reconcile({ where }) is not available with ${adapter.name} in this version: ` +
      'pass the subject ids instead (`ids`, or --ids on the command line).');
  }
  const limit = options.limit ?? Infinity;
  const batchSize = options.batchSize ?? 100;
  if (!(limit >= 0) || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new ConfigurationError(`reconcile: limit must be 0 or more and batchSize a whole number of at least 1 ` +
      `(got limit ${options.limit}, batchSize ${options.batchSize}).`);
  }
  const report: ReconcileReport = {
    machine: machine.name, subject: machine.subjectInfo.name, checked: 0, unchanged: 0, differing: [], unpublishable: [], errors: [], limited: false,
  };
  const given = ids === undefined ? undefined : checkedIds(ids, machine.subjectInfo, `reconcile(${machine.className}, { ids })`);
  // Only a full reconcile walks the stored subjects after the rows (gone-subjects.ts).
  const seen = given || where ? undefined : new SeenIds(adapter, machine);
  let after: string | undefined;
  for (;;) {
    const size = Math.min(batchSize, limit - report.checked);
    if (size <= 0) {
      report.limited = given ? report.checked < given.length : (await nextPage(adapter, machine, `reconcile(${machine.className})`, where, after, 1)).length > 0;
      break;
    }
    const page = given ? given.slice(report.checked, report.checked + size) : await nextPage(adapter, machine, `reconcile(${machine.className})`, where, after, size);
    if (page.length === 0) break;
    const [rows, stored] = await Promise.all([
      adapter.load(machine.subject, page, machine.relations), adapter.payloads.findMany(machine.name, page),
    ]);
    const verdicts = await Promise.all(page.map((id) => judge(machine, id, rows.get(id), stored.get(id))));
    for (const verdict of verdicts) {
      if (verdict.kind === 'unchanged') report.unchanged += 1;
      else if (verdict.kind === 'differing') report.differing.push(verdict.entry);
      else if (verdict.kind === 'unpublishable') report.unpublishable.push(verdict.entry);
      else report.errors.push(verdict.entry);
    }
    report.checked += page.length;
    after = page[page.length - 1];
    seen?.add(page);
  }
  if (seen && !report.limited) await judgeGone(adapter, machine, seen, limit, report);
  return report;
}

/** The stored subjects whose rows are gone (gone-subjects.ts): a run would unpublish each. */
async function judgeGone(adapter: OrmAdapter, machine: MachineDefinition, seen: SeenIds, limit: number, report: ReconcileReport): Promise<void> {
  for await (const gone of goneSubjects(adapter, machine, seen)) {
    const page = gone.slice(0, limit - report.checked);
    const stored = await adapter.payloads.findMany(machine.name, page);
    for (const id of page) {
      const verdict = await judge(machine, id, undefined, stored.get(id));
      if (verdict.kind === 'unpublishable') report.unpublishable.push(verdict.entry);
    }
    report.checked += page.length;
    if (page.length < gone.length) {
      report.limited = true;
      return;
    }
  }
}


/** What a run would do with one subject, without doing it. */
async function judge(machine: MachineDefinition, id: string, row: object | undefined, stored: StoredPayload | undefined): Promise<Verdict> {
  const where = { entity: machine.subjectInfo.name, id };
  const withdrawn = (reason: UnpublishableSubject['reason']): Verdict => {
    const entry: UnpublishableSubject = { subjectId: id, reason, wouldUnpublish: stored !== undefined };
    const body = storedBody(stored);
    if (body !== undefined) entry.stored = body;
    return { kind: 'unpublishable', entry };
  };
  try {
    if (!row) return withdrawn('gone');
    if (machine.hooks.checkPublishable &&
        !(await callHook(machine, machine.hooks.checkPublishable, 'check_publishable', [row], where))) {
      return withdrawn('not_publishable');
    }
    const built = await callHook(machine, machine.hooks.build, 'build', [row], where);
    const builtDigest = digestOf(canonicalJson(built));
    if (stored && stored.digest === builtDigest) return { kind: 'unchanged' };
    const body = storedBody(stored);
    const entry: DifferingSubject = {
      subjectId: id, ...(body === undefined ? {} : { stored: body }), ...(stored ? { storedDigest: stored.digest } : {}),
      built, builtDigest,
    };
    return { kind: 'differing', entry };
  } catch (error) {
    const message = error instanceof NotJsonError
      ? `${machine.className}.${machine.hooks.build} returned a payload for ${where.entity} ${id} that is not ` +
        `JSON-serialisable: ${error.message}; ${error.fix} in @Build.`
      : describeError(error);
    return { kind: 'error', entry: { subjectId: id, error: message } };
  }
}

/** The stored payload, parsed; undefined when the store keeps no body (digests only) or it cannot be read. */
function storedBody(stored: StoredPayload | undefined): unknown {
  if (!stored || typeof stored.body !== 'string' || stored.body === '') return undefined;
  try {
    return JSON.parse(stored.body);
  } catch {
    return undefined;
  }
}
