import type { PayloadStore } from '../ports';
import { requestForces } from './requests';
import type { TakenItem } from './work-queue';

/**
 * How much later than a forced request a stored publish must have read to count as after it: MySQL and MariaDB
 * keep the payload table's times in whole seconds (rounded or cut), which may put a read up to a second late.
 */
const STORED_TIME_SLACK_MS = 1_000;

/**
 * Whether a forced request (resync `force`, or the re-run after a lock lost while publishing) was met by a later
 * run: one that read the subject after the request and published (SPEC §2.3, a run skips itself when a run for the
 * same subject started reading after it was requested). Such a request is not sent again. The batch of a killed
 * worker's forced resync, re-run once its locks expired, sent each of its subjects' payloads a second time, after
 * another worker had taken a later change of them and published (an outside trial: 500 of 1,000).
 *
 * The times are read with one query when the batch's first forced subject with an unchanged payload asks, for every
 * forced subject of the batch: most runs never ask.
 */
export class ForcedRequests {
  private read?: { ids: Set<string>; times: Promise<Map<string, Date>> };

  /** `readAt`: when the batch was taken, on Redis' clock, as the stored times are. */
  constructor(
    private readonly store: PayloadStore, private readonly machine: string, private readonly items: TakenItem[],
    private readonly readAt: number,
  ) {}

  /** Whether a run that read `id` after `requestedAt` (Redis ms) published it since. */
  async metSince(id: string, requestedAt: number | undefined): Promise<boolean> {
    if (requestedAt === undefined) return false;
    this.read ??= this.readTimes(this.items.filter((i) => forces(i.raw)).map((i) => i.item));
    // Not in the read (it is only when its request cannot be read): read alone.
    const at = this.read.ids.has(id) ? (await this.read.times).get(id) : (await this.timesOf([id])).get(id);
    if (!at) return false;
    const ms = at.getTime();
    // A time past the take is not one this store wrote (a clock or time zone off): it proves nothing.
    return ms - STORED_TIME_SLACK_MS > requestedAt && ms <= this.readAt + STORED_TIME_SLACK_MS;
  }

  private readTimes(ids: string[]): { ids: Set<string>; times: Promise<Map<string, Date>> } {
    return { ids: new Set(ids), times: this.timesOf(ids) };
  }

  private async timesOf(ids: string[]): Promise<Map<string, Date>> {
    const times = new Map<string, Date>();
    for (const [id, stored] of await this.store.findMany(this.machine, ids)) times.set(id, new Date(stored.generatedAt));
    return times;
  }
}

function forces(raw: string): boolean {
  try {
    return requestForces(raw, '');
  } catch {
    return false; // a request that cannot be read fails in runItem, with its own message
  }
}
