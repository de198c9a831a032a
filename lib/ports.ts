import type { ColumnKind } from './where-values';
import type { EntityClass } from '../decorators/metadata-keys';
import type { KeyKind } from './key-kinds';

export type { EntityClass };

export type ChangeOp = 'insert' | 'update' | 'remove';

/** What a `@SubjectIdsFrom` method receives besides the entity. */
export interface Change {
  op: ChangeOp;
  changedKeys: string[];
}

/** One committed write of one row, as an adapter reports it. */
export interface CapturedChange {
  entity: EntityClass;
  id: string;
  op: ChangeOp;
  changedKeys: string[];
  /** Column values before a removal, JSON-safe. */
  snapshot?: Record<string, unknown>;
  /**
   * An update that moved the row to another parent (changed a to-one relation): the row's values before it, in
   * the snapshot's shape, so that the subjects it left are mapped too. Several when merged writes moved it more
   * than once.
   */
  before?: Array<Record<string, unknown>>;
}

/** What the core needs to know of an entity. */
export interface EntityInfo {
  name: string;
  primaryKey: string;
  /** What ids the primary key can hold: an id given as a string must read as one ('42', not '4x'). */
  keyKind: KeyKind;
  /**
   * The database compares the key's text without case (MySQL/MariaDB under a `_ci` collation), so an id spelled
   * otherwise than its row finds the row (ensure-publication's respell).
   */
  keyIgnoresCase?: boolean;
  /** Columns and relations, by property name: what `fields` may name. */
  properties: string[];
  /**
   * The table its rows are in (schema-qualified where given): the classes of one single-table hierarchy share it, so
   * a row notified as one of them may be a row of any other (notifyChanged).
   */
  table?: string;
  /**
   * Relations whose key lives in the other entity's rows (a one-to-many collection, the inverse side of a
   * one-to-one), by property: writing them changes none of this entity's rows, so `fields` may not name them.
   * Each names the other entity and its property that holds the key, for the error that says what to listen to.
   */
  foreignSides?: Record<string, { entity: string; property?: string }>;
  /**
   * Many-to-many relations, by property: the other entity's name. Removing a row of that entity deletes its link
   * rows, which both ORMs report as a change of this property of each linked row (see the adapters' capture).
   */
  manyToMany?: Record<string, string>;
  /** Each column's type family, by property name: what a `where` value of it must be (lib/where-values.ts). */
  columnKinds?: Record<string, ColumnKind>;
  /**
   * The relations a loaded row of this entity holds no loaded value for (TypeORM: undefined; MikroORM: also a
   * reference or collection not initialized): what a hook that threw reading one may have missed (call-hook.ts).
   */
  unloaded?(row: object): string[];
}

export interface StoredPayload {
  /** Canonical JSON of the payload; '' with `store: 'digest'`. */
  body: string;
  digest: string;
  generatedAt: Date;
  publishedAt: Date | null;
  version: number;
}

/** What the store records of one successful publish. */
export interface PublishedPayload {
  subjectId: string;
  body: string;
  digest: string;
  generatedAt: Date;
  version: number;
}

/**
 * What a run compares a built payload with: the stored digest and version. The body is read apart (findBodies),
 * only for the subjects that publish or unpublish: most of a resync is unchanged and never needs it.
 */
export type StoredDigest = Pick<StoredPayload, 'digest' | 'version'>;

/** The `sync_machine_payloads` table, through the application's ORM. */
export interface PayloadStore {
  /**
   * The stored payloads of these subjects, with one query; subjects never published are absent, and so are those
   * unpublished since (their rows keep only a version: UNPUBLISHED_DIGEST).
   */
  findMany(machine: string, subjectIds: string[]): Promise<Map<string, StoredPayload>>;
  /**
   * findMany for runs: digests and versions only, read without entity hydration (most of a batch's reads). Unlike
   * findMany, it gives the rows of unpublished subjects too (digest UNPUBLISHED_DIGEST), for their versions.
   */
  findDigests(machine: string, subjectIds: string[]): Promise<Map<string, StoredDigest>>;
  /** The stored bodies of these subjects ('' with `store: 'digest'`), with one query, read without entity hydration. */
  findBodies(machine: string, subjectIds: string[]): Promise<Map<string, string>>;
  /**
   * The machine's published subject ids (not those unpublished since) in their (string) order, after `afterId`: what
   * a full resync checks for rows gone.
   */
  pageSubjectIds(machine: string, afterId: string | undefined, limit: number): Promise<string[]>;
  /**
   * Records successful publishes, with one statement (an upsert per subject would cost a round trip each), and
   * unpublishes (unpublishedRow).
   */
  savePublished(machine: string, published: PublishedPayload[]): Promise<void>;
  /**
   * Throws a ConfigurationError with the fix when the table is missing. Resolves the most bytes the body column
   * holds when a payload may well need more (MySQL and MariaDB's TEXT: 65,535), else undefined.
   */
  check(): Promise<number | undefined>;
}

/** Column equality for backfills: `{ status: 'shipped', customerId: 3 }`, by property name. */
export type ColumnFilter = Record<string, string | number | bigint | boolean | Date | null>;

export type StoredWithoutRow = (afterId: string | undefined, limit: number) => Promise<string[]>;

export type CommitListener = (changes: CapturedChange[]) => Promise<void>;

/** How an adapter captures (OrmAdapter.onCommitted). */
export interface CaptureOptions {
  /** Write each change to the outbox inside its transaction too. */
  outbox?: boolean;
  /**
   * The entities whose every listener names its `fields`, with their union: only a write of one of those is a
   * change the machines take. A write whose rows the adapter cannot see (TypeORM's update()) that sets none of them
   * needs no warning (a trial's update() of an unwatched `note` was told that its rows could not be seen).
   */
  fields?: ReadonlyMap<EntityClass, ReadonlySet<string>>;
}

/** How captured changes leave the application's transaction (SPEC §6.3). */
export type CaptureMode = 'direct' | 'outbox';

/** A row of the outbox as the relay reads it. */
export interface OutboxEntry {
  id: string;
  entry: string;
}

/** The `sync_machine_outbox` table, through the application's ORM (capture: 'outbox'). */
export interface OutboxStore {
  /** The oldest rows, at most `limit`, with one query. */
  oldest(limit: number): Promise<OutboxEntry[]>;
  /** Deletes these rows (their changes are recorded in Redis). */
  remove(ids: string[]): Promise<void>;
  /** Rows waiting, for drain(). */
  count(): Promise<number>;
  /** Throws a ConfigurationError with the fix when the entity or table is missing. */
  check(): Promise<void>;
}

/** Everything the pipeline asks of an ORM; one implementation per ORM in `adapters/`. */
export interface OrmAdapter {
  readonly name: string;
  /**
   * Where the connection points, for telling runtimes under one prefix that work on different databases
   * (lib/database-label.ts): never the password.
   */
  databaseLabel?(): string;
  /** The driver's queries run on the event loop (better-sqlite3), not on their own I/O: runs then read in turns. */
  readonly blocksEventLoop?: boolean;
  /** Undefined when the ORM does not know the class. */
  describe(entity: EntityClass): EntityInfo | undefined;
  /** How to register the payload entity, or undefined when it is registered. */
  payloadEntityMissing(): string | undefined;
  /**
   * Calls `listener` after each commit with the changes to `watched` entities; returns the unsubscribe. With
   * `outbox`, each change is also written to the outbox inside the transaction, before it commits.
   */
  onCommitted(watched: ReadonlySet<EntityClass>, listener: CommitListener, options?: CaptureOptions): () => void;
  /** Why a dotted relation path does not work from `entity` ("Order has no relation x; it has customer"), if not. */
  relationProblem(entity: EntityClass, path: string): string | undefined;
  /**
   * Loads fresh rows by id with one query (string ids converted to the key's type); missing ids are absent.
   * `toOneKeys`, for rows a `@SubjectIdsFrom` method gets: a to-one relation the row owns and the load does not
   * fill comes as `{ <key>: value }` (null for none), as in a removal snapshot, so that `line.order.id` works on
   * both (MikroORM's unloaded references hold their key already).
   */
  load(entity: EntityClass, ids: string[], relations?: string[], toOneKeys?: boolean): Promise<Map<string, object>>;
  /** Primary keys in key order, after `afterId`, for backfills. */
  pageIds(entity: EntityClass, afterId: string | undefined, limit: number): Promise<string[]>;
  /** Optional (`resync({ where })`): like pageIds, only rows whose columns equal `where`'s values. */
  pageIdsWhere?(entity: EntityClass, where: ColumnFilter, afterId: string | undefined, limit: number): Promise<string[]>;
  /** Optional: how many rows (matching `where`) a backfill goes through, for its progress total. */
  countRows?(entity: EntityClass, where?: ColumnFilter): Promise<number>;
  /**
   * Optional (a full resync's stored subjects whose rows are gone): which of these ids have a row, read without
   * hydration; an id that cannot be a key has none.
   */
  presentIds?(entity: EntityClass, ids: string[]): Promise<Set<string>>;
  /**
   * Optional (the end of a full resync's or reconcile's walk): a query of the stored subjects of `machine` that have
   * no row of `entity`, after `afterId` in subject id order, at most `limit`, one query a page. Undefined when this
   * database or key type cannot: the walk then compares the stored ids with the rows it went through.
   */
  storedWithoutRow?(entity: EntityClass, machine: string): StoredWithoutRow | undefined;
  /**
   * Optional: runs a batch's hooks (or a reconcile's) in the ORM's own unit of work for them, as a request would
   * (MikroORM: a RequestContext), so that an ORM handle injected the framework's way works inside the hooks.
   */
  inContext?<T>(run: () => Promise<T>): Promise<T>;
  readonly payloads: PayloadStore;
  readonly outbox: OutboxStore;
}
