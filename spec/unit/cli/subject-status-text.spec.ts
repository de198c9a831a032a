import { expect } from 'chai';
import { formatSubjectStatus } from '../../../lib/cli/commands/subject-status';

describe('status --subject, as text', () => {
  const base = { machine: 'BookSync', subject: 'Book', subjectId: '1', exists: true, pending: false };

  it('says when changes of related rows are not yet mapped to subjects, as this one may be among them', () => {
    expect(formatSubjectStatus({ ...base, unmapped: 2 })).to.deep.equal([
      'BookSync: Book 1',
      '  row:       in the database',
      '  published: never (or unpublished since)',
      '  pending:   no',
      '  unmapped:  2 changed rows of related entities not yet mapped to subjects (it may be among them, and then runs again)',
      '  failed:    no',
    ]);
  });

  it('says whether the row is in the database, and a removed one that is still published', () => {
    expect(formatSubjectStatus({ ...base, exists: false })[1]).to.equal('  row:       not in the database (no such row, or removed)');
    const published = { at: new Date(0), digest: 'd' };
    expect(formatSubjectStatus({ ...base, exists: false, published })[1]).to.equal('  row:       not in the database (removed while published: its removal\'s run unpublishes it, or a resync if removed outside the ORM)');
  });

  it('says an unpublished subject so, with its unpublish\'s version', () => {
    expect(formatSubjectStatus({ ...base, unpublished: { version: 3 } })[2]).to.equal('  published: no: unpublished (its unpublish went out as version 3)');
  });

  it('leaves the line out when none waits', () => {
    expect(formatSubjectStatus(base).some((l) => l.includes('unmapped'))).to.equal(false);
  });
});
