import { expect } from 'chai';
import { formatStatus } from '../../../lib/cli/commands/status';
import type { MachineStatus } from '../../../lib/runtime/status';

describe('status, as text', () => {
  const idle = { waiting: 0, active: 0, delayed: 0, failed: 0, failedJobs: 0 };
  const base: MachineStatus = {
    machine: 'BookFeedSync', subject: 'Book', outcomes: {}, workers: 1, lastPublishes: [], failures: [], failedJobs: [], longestRunning: [],
    queues: { 'find-subjects': idle, 'ensure-publication': { ...idle, active: 2 } },
  };

  it('names the items that have run longest, with how long: a publish that never returns is seen there', () => {
    const text = formatStatus([{ ...base, longestRunning: [
      { step: 'ensure-publication', id: '7', forMs: 95_230 }, { step: 'find-subjects', id: 'Publisher:3', forMs: 1_004 },
    ] }], 'p');
    expect(text).to.include('  running longest: Book 7 95.2 s, Publisher 3 1.0 s');
  });

  it('marks an item whose run\'s worker is gone (killed): it is not slow, it waits for a stall check', () => {
    const text = formatStatus([{ ...base, longestRunning: [
      { step: 'ensure-publication', id: '7', forMs: 4_000, workerGone: true }, { step: 'ensure-publication', id: '8', forMs: 1_000 },
    ] }], 'p');
    expect(text).to.include('  running longest: Book 7 4.0 s (its worker is gone), Book 8 1.0 s');
  });

  it('lists failed queue jobs, which --json alone showed (a trial read "failures: none")', () => {
    const at = new Date('2026-12-06T10:00:00Z');
    const one = { 'find-subjects': idle, 'ensure-publication': { ...idle, failedJobs: 1 } };
    const text = formatStatus([{ ...base, queues: one, failedJobs: [{ queue: 'p:BookFeedSync:ensure-publication', jobId: '17', error: 'Job 17 is corrupt', at }] }], 'p');
    expect(text.slice(-3)).to.deep.equal(['  failures: none',
      '  failed queue jobs: 1 (corrupt or malformed run tickets; they hold no work, retry-failed clears them):',
      '    ensure-publication 17  2026-12-06T10:00:00.000Z  Job 17 is corrupt']);
    expect(formatStatus([base], 'p').some((l) => l.includes('failed queue jobs'))).to.equal(false);
    // One written by hand has no time: not 1970 (a trial).
    const unknown = formatStatus([{ ...base, failedJobs: [{ queue: 'p:BookFeedSync:ensure-publication', jobId: '996', error: '(no error recorded)', at: new Date(0) }] }], 'p');
    expect(unknown.at(-1)).to.equal('    ensure-publication 996  (no time)  (no error recorded)');
  });

  it('says how many failed queue jobs there are when it lists fewer (the limit)', () => {
    const at = new Date('2026-12-06T10:00:00Z');
    const many = { 'find-subjects': { ...idle, failedJobs: 2 }, 'ensure-publication': { ...idle, failedJobs: 1_198 } };
    const text = formatStatus([{ ...base, queues: many, failedJobs: [{ queue: 'p:BookFeedSync:ensure-publication', jobId: '17', error: 'Job 17 is corrupt', at }] }], 'p');
    expect(text.slice(-2)).to.deep.equal([
      '  failed queue jobs: 1200, 1 of them (corrupt or malformed run tickets; they hold no work, retry-failed clears them):',
      '    ensure-publication 17  2026-12-06T10:00:00.000Z  Job 17 is corrupt']);
    // With --limit 0 none is listed, and the count still says them.
    expect(formatStatus([{ ...base, queues: many }], 'p').at(-1)).to.equal(
      '  failed queue jobs: 1200, 0 of them (corrupt or malformed run tickets; they hold no work, retry-failed clears them):');
  });

  it('leaves the line out when nothing runs', () => {
    expect(formatStatus([base], 'p').some((l) => l.includes('running longest'))).to.equal(false);
  });

  it('says how many workers run the machine, and how to start one when none does', () => {
    expect(formatStatus([{ ...base, workers: 2 }], 'p')).to.include('  workers: 2 running');
    expect(formatStatus([{ ...base, workers: 0 }], 'p')).to.include('  workers: none running (start one with this prefix: npx sync-machine worker, or your app\'s own worker process)');
  });

  it('says a data loss found by a runtime, when, and the resync that ends the notice', () => {
    const now = Date.parse('2026-12-06T10:00:00Z');
    const text = formatStatus([{ ...base, dataLost: new Date(now - 90_000) }], 'p', now);
    expect(text[3]).to.equal('  Redis lost its data: found 2026-12-06T09:58:30.000Z (90 s ago). Changes recorded before then and not yet ' +
      'run are gone, so subjects may be stale: run sync-machine resync BookFeedSync (a full resync ends this notice).');
    expect(formatStatus([base], 'p').some((l) => l.includes('lost its data'))).to.equal(false);
  });

  it('says a loss found as a new prefix reads with that doubt (a trial that had only changed prefix read it as fact)', () => {
    const now = Date.parse('2026-12-06T10:00:00Z');
    const text = formatStatus([{ ...base, dataLost: new Date(now - 90_000), dataLostMaybeNewPrefix: true }], 'p', now);
    expect(text[3]).to.equal('  Redis lost its data, or this prefix is new to this database (Redis held no record of BookFeedSync ' +
      'while the payload table held subjects it published): found 2026-12-06T09:58:30.000Z (90 s ago). If Redis lost it, ' +
      'changes recorded before then and not yet run are gone, so subjects may be stale. Either way run sync-machine resync ' +
      'BookFeedSync (unchanged subjects cost no API call; a full resync ends this notice).');
  });
});
