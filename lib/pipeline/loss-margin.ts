import type { PayloadStore, StoredDigest, StoredPayload } from '../ports';

/**
 * How many versions a subject's first publish after a Redis data loss skips. The records of calls of unknown outcome
 * (uncertain-publishes.ts) went with Redis' data, and such a call may have sent the version after the stored one
 * (its retries of other payloads, more): a trial's PUT v32 timed out, Redis came back empty, the call landed, and the
 * next change went out as another v32, which its partner (taking only higher versions) refused, stale.
 */
export const LOSS_MARGIN = 10;

/**
 * Per batch: how far a subject's next version goes above the one the records would give (`LOSS_MARGIN` or 0). A
 * subject stored before the machine's last loss (KeySpace.lostBefore), or never stored, may have had such a call; one
 * stored since, or with a record of its own now, has its versions told by the store and the records. The stored
 * times are read once per batch, and only after a loss.
 */
export class LossMargin {
  private stored?: Promise<Map<string, StoredPayload>>;

  constructor(
    private readonly lostBefore: number | undefined, private readonly payloads: PayloadStore,
    private readonly machine: string, private readonly ids: string[],
  ) {}

  async of(id: string, stored: StoredDigest | undefined, recorded: boolean): Promise<number> {
    if (this.lostBefore === undefined || recorded) return 0;
    if (!stored) return LOSS_MARGIN;
    // findMany leaves out unpublished rows: their subjects take the margin, as a row stored before the loss would.
    this.stored ??= this.payloads.findMany(this.machine, this.ids);
    const at = (await this.stored).get(id)?.generatedAt;
    return at !== undefined && new Date(at).getTime() >= this.lostBefore ? 0 : LOSS_MARGIN;
  }
}
