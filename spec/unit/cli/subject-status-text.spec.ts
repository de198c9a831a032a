import { expect } from 'chai';
import { formatSubjectStatus } from '../../../lib/cli/commands/subject-status';

describe('status --subject, as text', () => {
  const base = { machine: 'BookSync', subject: 'Book', subjectId: '1', pending: false };

  it('says when changes of related rows are not yet mapped to subjects, as this one may be among them', () => {
    expect(formatSubjectStatus({ ...base, unmapped: 2 })).to.deep.equal([
      'BookSync: Book 1',
      '  published: never (or unpublished since)',
      '  pending:   no',
      '  unmapped:  2 changed rows of related entities not yet mapped to subjects (it may be among them, and then runs again)',
      '  failed:    no',
    ]);
  });

  it('leaves the line out when none waits', () => {
    expect(formatSubjectStatus(base).some((l) => l.includes('unmapped'))).to.equal(false);
  });
});
