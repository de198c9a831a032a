import { expect } from 'chai';
import { formatStatus } from '../../../lib/cli/commands/status';
import type { MachineStatus } from '../../../lib/runtime/status';

describe('status, as text', () => {
  const idle = { waiting: 0, active: 0, delayed: 0, failed: 0 };
  const base: MachineStatus = {
    machine: 'BookFeedSync', subject: 'Book', outcomes: {}, lastPublishes: [], failures: [], failedJobs: [], longestRunning: [],
    queues: { 'find-subjects': idle, 'ensure-publication': { ...idle, active: 2 } },
  };

  it('names the items that have run longest, with how long: a publish that never returns is seen there', () => {
    const text = formatStatus([{ ...base, longestRunning: [
      { step: 'ensure-publication', id: '7', forMs: 95_230 }, { step: 'find-subjects', id: 'Publisher:3', forMs: 1_004 },
    ] }], 'p');
    expect(text).to.include('  running longest: Book 7 95.2 s, Publisher 3 1.0 s');
  });

  it('leaves the line out when nothing runs', () => {
    expect(formatStatus([base], 'p').some((l) => l.includes('running longest'))).to.equal(false);
  });
});
