import type { RateLimit } from '../pipeline/publish-gate';
import type { BatchSettings } from '../pipeline/work-queue';
import type { EntityClass, EntityInfo } from '../ports';

/** A listened entity and how its changes reach subjects. */
export interface Listener {
  entity: EntityClass;
  info: EntityInfo;
  fields?: string[];
  /** The `@SubjectIdsFrom` method; undefined for the subject itself (identity mapping). */
  mapper?: string;
}

export interface Hooks {
  build: string;
  publish: string;
  checkPublishable?: string;
  afterPublish?: string;
  unpublish?: string;
}

/** A validated machine: what start() discovered, used by every step. */
export interface MachineDefinition {
  name: string;
  /** `name` was given (@SyncMachine({ name })), not taken from the class. */
  named?: boolean;
  className: string;
  instance: Record<string, (...args: unknown[]) => unknown>;
  subject: EntityClass;
  subjectInfo: EntityInfo;
  /** Dotted relation paths to load with the subject, checked against the ORM at start. */
  relations?: string[];
  batching: BatchSettings;
  /** 'digest': only digests at rest, no payload bodies. */
  store: 'body' | 'digest';
  rateLimit?: RateLimit;
  listeners: Listener[];
  hooks: Hooks;
}
