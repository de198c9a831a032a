import { describeError } from '../errors';
import type { Logger } from '../logger';
import type { CapturedChange, EntityClass, OutboxStore } from '../ports';
import { RedisUnavailableError } from '../redis/availability';
import { decodeOutboxEntry } from '../store/outbox-row';

/** Rows moved per pass: one read, one route (a script call per machine and step), one delete. */
const BATCH = 500;

export interface OutboxRelayDeps {
  outbox: OutboxStore;
  /** The watched entities by class name (what an outbox entry names). */
  entities: ReadonlyMap<string, EntityClass>;
  /** Records changes in Redis (router.route, guarded by Redis availability); rejects when it could not. */
  route(changes: CapturedChange[]): Promise<void>;
  logger: Logger;
  /** Polling interval: picks up rows left by an outage or by another process. */
  pollMs: number;
}

/**
 * Moves outbox rows into Redis: right after each commit (`nudge`) and every `pollMs`, oldest first, deleting a
 * row only once its change is recorded. One pass at a time per runtime; runtimes in other processes may move the
 * same rows meanwhile, which at worst records a change twice (requests merge, so it runs once).
 */
export class OutboxRelay {
  private running?: Promise<void>;
  private again = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private warnedUnreadable = false;

  constructor(private readonly deps: OutboxRelayDeps) {
    this.timer = setInterval(() => this.nudge(), deps.pollMs);
    this.timer.unref();
  }

  /** Starts a pass unless one runs; if one does, another follows it (the commit may have come after its read). */
  nudge(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.passes().finally(() => { this.running = undefined; });
  }

  /** Resolves when no pass runs. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.idle();
  }

  private async passes(): Promise<void> {
    do {
      this.again = false;
      try {
        while (!this.closed && (await this.pass()) === BATCH) { /* more rows wait */ }
      } catch (error) {
        // Redis down: the rows stay, the poll tries again; the availability monitor has said Redis is down.
        if (!(error instanceof RedisUnavailableError)) {
          this.deps.logger.error(`Outbox relay: could not move changes to Redis (${describeError(error)}); they stay in ` +
            `the outbox and are retried every ${this.deps.pollMs} ms.`);
        }
        return;
      }
    } while (this.again && !this.closed);
  }

  /** One batch: returns how many rows it moved. */
  private async pass(): Promise<number> {
    const rows = await this.deps.outbox.oldest(BATCH);
    if (rows.length === 0) return 0;
    const changes: CapturedChange[] = [];
    const unreadable: string[] = [];
    for (const row of rows) {
      const decoded = decodeOutboxEntry(row.entry, this.deps.entities);
      if ('change' in decoded) changes.push(decoded.change);
      else unreadable.push(`${row.id} (${decoded.problem})`);
    }
    if (unreadable.length > 0 && !this.warnedUnreadable) {
      this.warnedUnreadable = true;
      this.deps.logger.error(`Outbox relay: dropped ${unreadable.length} row(s) of sync_machine_outbox that name no ` +
        `change of a started machine: ${unreadable.slice(0, 10).join(', ')}. Every runtime sharing this database must ` +
        'start the same machines.');
    }
    if (changes.length > 0) await this.deps.route(changes);
    await this.deps.outbox.remove(rows.map((r) => r.id));
    return rows.length;
  }
}
