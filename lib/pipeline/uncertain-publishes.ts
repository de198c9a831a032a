import { randomBytes } from 'node:crypto';
import type { StoredDigest } from '../ports';
import { UNPUBLISHED_DIGEST } from '../store/payload-row';
import type { WorkQueue } from './work-queue';

/**
 * A publish (or unpublish) whose outcome is not known: the version it was sent with, its digest ('' to unpublish),
 * and what made its idempotency key its own ('' for a call of a version before keys had it).
 */
interface Uncertain {
  version: number;
  digest: string;
  seed: string;
}

/** This process's random part of a seed, and a count: unique across processes, without a random draw per call. */
const PROCESS_SEED = randomBytes(9).toString('base64url');
let seeds = 0;

function newSeed(): string {
  seeds += 1;
  return `${PROCESS_SEED}${seeds.toString(36)}`;
}

/**
 * Publishes of one batch's subjects whose outcome is not known (keys.publishing). A call that throws or times out
 * may have reached the partner API all the same (it applied the request; the answer was lost), and a worker that dies
 * after the call stores nothing: then the stored digest no longer says what the API holds. A later run that built the
 * stored payload again (the row changed back) found it unchanged, and the API kept the failed call's payload for good
 * (a trial: cancelled, then booked again, 6 of 6). So every publish is recorded before its call and forgotten once its
 * result is stored; a record left behind makes the next run publish, with a version above the one it may have sent.
 */
export class UncertainPublishes {
  private queued = new Map<string, string>();
  private sending?: Promise<void>;
  private resent?: Set<string>;
  /** The seed each call of this batch goes out with (seed()), recorded with it (mark()). */
  private readonly seeds = new Map<string, string>();

  private constructor(private readonly work: WorkQueue, private readonly found: Map<string, Uncertain>) {}

  /** The records of a batch's subjects, as its take read them (take.lua): no round trip of their own. */
  static of(work: WorkQueue, records: Map<string, string>): UncertainPublishes {
    const found = new Map<string, Uncertain>();
    for (const [id, value] of records) {
      // "<version>|<digest>|<seed>", or "<version>|<digest>" from a version before seeds. A value not of this form
      // (written by hand) still says a call may have gone out.
      const [version, digest = '', seed = ''] = value.split('|');
      found.set(id, { version: value.includes('|') ? Number.parseInt(version, 10) || 0 : 0, digest, seed });
    }
    return new UncertainPublishes(work, found);
  }

  /** Whether a publish of the subject (not an unpublish) may have reached the API without being stored. */
  mayHavePublished(id: string): boolean {
    const uncertain = this.found.get(id);
    return uncertain !== undefined && uncertain.digest !== UNPUBLISHED_DIGEST;
  }

  /** Whether the subject has such a record: its run must not take it as unchanged before it has built it. */
  has(id: string): boolean {
    return this.found.has(id);
  }

  /**
   * Whether the subject must be published though its payload is the stored one: a call of another payload (or an
   * unpublish) may have reached the API since that was stored, or a call of the stored payload with a version above
   * the stored one. That call may not have arrived while an earlier call of unknown outcome did (its record is
   * overwritten by the later call's); and if it arrived, the store must learn its version, or the next payload would
   * go out with a lower one (a trial: shipped applied with its answer lost, then purchased lost: the API kept
   * shipped; or both applied: the next change went out as version 8 after 9).
   */
  forces(id: string, stored: StoredDigest | undefined): boolean {
    const uncertain = this.found.get(id);
    if (uncertain === undefined) return false;
    return uncertain.digest !== stored?.digest || uncertain.version > (stored?.version ?? 0);
  }

  /**
   * The version to publish `digest` with: the uncertain call's when it sent this same payload (its retry, with the
   * same idempotency key), else one above both it and the stored one, so that no two payloads go out with one version.
   * A forced run (`resync --force`, a rerun after a lock lost mid-publish) goes above it even for the same payload:
   * where the partner holds another payload under that version (a record lost with Redis' data before its loss was
   * found), the retry's version was refused for good, and `resync --force`, the README's way out, sent it again (a
   * trial: 8 attempts, two forced resyncs, all refused).
   */
  version(id: string, digest: string, stored: StoredDigest | undefined, forced = false): number {
    const uncertain = this.found.get(id);
    if (!forced && uncertain && uncertain.digest === digest && uncertain.version > (stored?.version ?? 0)) return uncertain.version;
    return Math.max(stored?.version ?? 0, uncertain?.version ?? 0) + 1;
  }

  /**
   * The version an unpublish goes out with: one above the last that may have reached the API (the stored publish's,
   * or a later call's of unknown outcome: a trial's DELETE went with 26 after the API had applied a PUT with 27), or
   * the uncertain unpublish's when this is its retry. With the last publish's own version, a partner that refuses
   * what is not above the version it holds refused every unpublish (409, a trial), and one that takes what is not
   * below it let a late PUT of that version bring the deleted document back.
   */
  unpublishVersion(id: string, stored: StoredDigest | undefined): number {
    return this.version(id, UNPUBLISHED_DIGEST, stored);
  }

  /**
   * What makes the idempotency key of a call on `id` its own (`recorded`: the call's digest, '' to unpublish): the
   * uncertain call's when this is its retry (the same payload with the same version), so a partner that remembers
   * keys can tell it was sent before; else new. Keyed by the payload alone, a payload sent again later (A, then B,
   * then A again, or after an unpublish) reused the first call's key, and a partner that remembers keys answered it
   * as a replay and kept B (a trial). '' for the retry of a call whose key had no seed (an older version's).
   */
  seed(id: string, recorded: string, version: number): string {
    const uncertain = this.found.get(id);
    const seed = uncertain && uncertain.digest === recorded && uncertain.version === version ? uncertain.seed : newSeed();
    this.seeds.set(id, seed);
    return seed;
  }

  /** Notes a publish of the stored payload, sent because of a record (forces): the store logs these. */
  resending(id: string): void {
    (this.resent ??= new Set()).add(id);
  }

  wasResent(id: string): boolean {
    return this.resent?.has(id) ?? false;
  }

  /**
   * Records a call about to be made; resolves once Redis has it. The records of the subjects that get this far in
   * one turn of the event loop (most of a batch) go in one command.
   */
  mark(id: string, version: number, digest: string): Promise<void> {
    const seed = this.seeds.get(id) ?? '';
    this.queued.set(id, seed === '' ? `${version}|${digest}` : `${version}|${digest}|${seed}`);
    this.sending ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const entries = this.queued;
      this.queued = new Map();
      this.sending = undefined;
      return this.work.markPublishing(entries);
    });
    return this.sending;
  }

  /**
   * Forgets a record that needs nothing more: the uncertain call sent the payload that is stored, with its version
   * (its store went through, the record's delete did not), or the subject is gone and was never stored. Else it
   * would send every later run of the subject the long way, for nothing.
   */
  settle(id: string): void {
    if (this.found.delete(id)) this.clear([id]);
  }

  /**
   * Forgets the records of subjects whose result is stored. Not awaited: it goes out before the batch's finish on
   * the same connection, so the next run of these subjects reads after it; one that fails leaves a record, whose only
   * cost is one more publish of an unchanged payload.
   */
  clear(ids: string[]): void {
    this.work.clearPublishing(ids).catch(() => undefined);
  }
}
