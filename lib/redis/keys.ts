/** The two pipeline steps; each has its own Bee-Queue queue and work set per machine. */
export type Step = 'find-subjects' | 'ensure-publication';

/** Bee-Queue's own keys of one queue (its storage is read and written in lib/queue/bee-queue-storage.ts only). */
export const BEE_QUEUE_KEYS = ['id', 'jobs', 'waiting', 'active', 'delayed', 'failed', 'succeeded', 'stalling', 'stallBlock', 'earlierDelayed'] as const;
export type BeeQueueKey = typeof BEE_QUEUE_KEYS[number];

/** The kinds of value sync-machine keeps in Redis keys, as Redis' TYPE names them. */
export type RedisType = 'string' | 'list' | 'set' | 'zset' | 'hash';

/**
 * The type of each key, by the last segment of its name (the names below): a key of another type (written by hand,
 * or by a bad deploy) makes Redis refuse every command and script given it (WRONGTYPE; lib/redis/wrong-type.ts
 * names it). The headers of lib/redis/scripts/*.lua say the same of each KEYS[i] (spec/unit/redis/key-types.spec.ts).
 */
const KEY_TYPES: Readonly<Record<string, RedisType>> = {
  // A step's work set (StepKeys; `failures` is its `failed`).
  pending: 'zset', inbox: 'list', inboxed: 'string', requests: 'hash', claims: 'hash', runs: 'set', busy: 'set',
  starting: 'set', failures: 'hash',
  // Bee-Queue's, of each step's queue; `earlierDelayed` is a pub/sub channel, not a key.
  id: 'string', jobs: 'hash', waiting: 'list', active: 'list', delayed: 'zset', failed: 'set', succeeded: 'set',
  stalling: 'set', stallBlock: 'string',
  // A machine's.
  locks: 'hash', 'paused-until': 'string', rate: 'zset', publishing: 'hash', stats: 'hash', published: 'list',
  'data-lost': 'string', 'lost-before': 'string', workers: 'zset', definitions: 'zset', 'last-definition': 'string', covered: 'zset', unreadable: 'hash',
};

/** The keys of one machine's step, in the order the work scripts declare them. */
export interface StepKeys {
  pending: string;
  /**
   * Requests of commits, not yet sorted into `pending` and `requests`: a list of `<ready-at>\n<JSON array of bare
   * items>`, followed by `\n<JSON array of [item, request] pairs>` for requests with fields, one entry per commit
   * (mark.lua, `ingest` in schedule.lua).
   */
  inbox: string;
  /** How many items the inbox holds, repeats included. */
  inboxed: string;
  requests: string;
  claims: string;
  runs: string;
  /**
   * Tickets whose batch has run for a while (finish.lua's release of part of a batch): out of `runs`, so that
   * they stand in for no ticket that new work needs.
   */
  busy: string;
  /** Tickets made for ready items, not yet taken (schedule.lua). */
  starting: string;
  failed: string;
}

/** Every Redis key and queue name, in one place, under the runtime's prefix. Tests, demo and bench use it too. */
export class KeySpace {
  constructor(readonly prefix: string) {}

  /** Bee-Queue adds its own `prefix:` in front. */
  queueName(machine: string, step: Step): string {
    return `${machine}:${step}`;
  }

  /** A key Bee-Queue keeps for one queue. */
  queueKey(machine: string, step: Step, suffix: BeeQueueKey): string {
    return `${this.prefix}:${this.queueName(machine, step)}:${suffix}`;
  }

  /**
   * The keys the work scripts make tickets with, in the order they declare them: Bee-Queue's, then the set of
   * tickets made for ready items and not yet taken (lib/redis/scripts/schedule.lua).
   */
  ticketKeys(machine: string, step: Step): string[] {
    return [
      ...(['id', 'jobs', 'waiting', 'delayed', 'earlierDelayed', 'active'] as const).map((s) => this.queueKey(machine, step, s)),
      this.step(machine, step).starting,
    ];
  }

  /** Pub/sub channel (not a key) on which a MARK wakes the idle runs of a step (lib/pipeline/wakes.ts). */
  wakeChannel(machine: string, step: Step): string {
    return `${this.prefix}:${machine}:${step}:wake`;
  }

  /** Pending items, their requests, claims of running batches, running tickets, failure records of one step. */
  step(machine: string, step: Step): StepKeys {
    const base = `${this.prefix}:${machine}:${step}`;
    return {
      pending: `${base}:pending`, inbox: `${base}:inbox`, inboxed: `${base}:inboxed`, requests: `${base}:requests`,
      claims: `${base}:claims`, runs: `${base}:runs`, busy: `${base}:busy`, starting: `${base}:starting`, failed: `${base}:failures`,
    };
  }

  /**
   * The machine's subject locks: one hash, subject id -> `<token>|<expires-at>`, each over 64 bytes so that Redis keeps
   * the hash as a hash table (lockToken in lib/pipeline/batch-locks.ts).
   */
  locks(machine: string): string {
    return `${this.prefix}:${machine}:locks`;
  }

  /** Until when (ms, Redis' clock) the machine's publishing is paused after a RetryAfter. */
  paused(machine: string): string {
    return `${this.prefix}:${machine}:paused-until`;
  }

  /** The machine's shared rate-limit window: a sorted set of recent publishes. */
  rate(machine: string): string {
    return `${this.prefix}:${machine}:rate`;
  }

  /**
   * The machine's publishes whose outcome is not known yet: subject id -> `<version>|<digest>` ('' for an unpublish),
   * written before @Publish (or @Unpublish) is called and deleted once its result is stored (uncertain-publishes.ts).
   * One left behind (a call that failed or timed out, a worker that died) makes the next run of the subject publish.
   */
  publishing(machine: string): string {
    return `${this.prefix}:${machine}:publishing`;
  }

  /** Hash of counters, `<step>:<outcome>`, `<step>:jobs`, `<step>:batches`, `<step>:handed_back`, read by `status` and the demo. */
  stats(machine: string): string {
    return `${this.prefix}:${machine}:stats`;
  }

  /** Capped list of the latest publishes (`<ms> <subject id>`, newest first), read by `status`. */
  recentPublishes(machine: string): string {
    return `${this.prefix}:${machine}:published`;
  }

  /**
   * When (ms, Redis' clock) a runtime found that Redis had lost the data it held, for the machine's `status` to say
   * until a full resync of the machine is recorded (DataLossWatch, SyncMachines.resync).
   */
  dataLost(machine: string): string {
    return `${this.prefix}:${machine}:data-lost`;
  }

  /**
   * When (ms, Redis' clock) a runtime last found that Redis had lost the data it held, kept after the full resync
   * (for LOST_BEFORE_TTL_S): a subject stored before then publishes next above the versions the lost records of calls
   * of unknown outcome may have sent (lib/pipeline/loss-margin.ts).
   */
  lostBefore(machine: string): string {
    return `${this.prefix}:${machine}:lost-before`;
  }

  /**
   * The machine's roll of live workers: worker id -> when its entry expires (ms, Redis' clock), renewed while the
   * worker runs (lib/pipeline/worker-roll.ts). A worker hands publishes back only while another is on it; `status`
   * counts it.
   */
  workers(machine: string): string {
    return `${this.prefix}:${machine}:workers`;
  }

  /**
   * Beside the roll: `<definition digest> <worker id>` -> when the entry expires, per live worker (roll-2.lua), so that
   * workers running other code than this process' (a deploy under way) are told (lib/metadata/definition-digest.ts).
   */
  definitions(machine: string): string {
    return `${this.prefix}:${machine}:definitions`;
  }

  /**
   * The definition digest the machine's workers ran last, kept after they stop: a worker that starts alone with
   * another one says a resync may be due (a deploy that stopped the old workers first: no overlap told it).
   */
  lastDefinition(machine: string): string {
    return `${this.prefix}:${machine}:last-definition`;
  }

  /**
   * Inbox entries of the machine that no script could read, until a full resync: `count`, and `at` (ms, Redis' clock)
   * of the latest found (lib/redis/unreadable.ts).
   */
  unreadable(machine: string): string {
    return `${this.prefix}:${machine}:unreadable`;
  }

  /**
   * With a debounce, when (ms, Redis' clock) each subject's latest run was taken, for a while: a subject found from a
   * row changed before then is not run again for that change (mark.lua, take.lua).
   */
  covered(machine: string): string {
    return `${this.prefix}:${machine}:covered`;
  }

  /**
   * A key each runtime keeps while it runs (with an expiry it refreshes), so that after an outage it can tell a Redis
   * that came back without its data (see DataLossWatch).
   */
  runtimeMarker(runtime: string): string {
    return `${this.prefix}:runtime:${runtime}`;
  }

  /** The type sync-machine keeps `key` in; undefined for a name not its own (or a channel). */
  keyType(key: string): RedisType | undefined {
    if (!key.startsWith(`${this.prefix}:`)) return undefined;
    const type = KEY_TYPES[key.slice(key.lastIndexOf(':') + 1)];
    if (type) return type;
    return key.startsWith(`${this.prefix}:runtime:`) ? 'string' : undefined;
  }

  /** Every key of one machine: both steps' work sets and Bee-Queue queues, and the machine's own. */
  machineKeys(machine: string): string[] {
    const steps = (['find-subjects', 'ensure-publication'] as const).flatMap((step) => [
      ...Object.values(this.step(machine, step)), ...BEE_QUEUE_KEYS.map((suffix) => this.queueKey(machine, step, suffix)),
    ]);
    return [...steps, this.locks(machine), this.paused(machine), this.rate(machine), this.publishing(machine),
      this.stats(machine), this.recentPublishes(machine), this.dataLost(machine), this.lostBefore(machine), this.workers(machine), this.definitions(machine), this.lastDefinition(machine), this.covered(machine), this.unreadable(machine)];
  }

  /** Every key of this prefix, for clean-up in tests, demo and bench. */
  pattern(): string {
    return `${this.prefix}:*`;
  }
}
