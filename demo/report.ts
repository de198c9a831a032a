export interface StepResult {
  label: string;
  writes: number;
  /** Run tickets (Bee-Queue jobs) started. */
  jobs: number;
  /** Batches run, by those tickets or by tickets already running. */
  runs: number;
  calls: number;
  expected: number;
  /** Counters of the step: run tickets (`<step>:jobs`), batches (`<step>:batches`), subjects or rows by outcome. */
  outcomes: Map<string, number>;
  ms: number;
}

export function ok(result: StepResult): boolean {
  return result.calls === result.expected;
}

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** Counter deltas between two readings of the stats hash. */
export function outcomesBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [field, n] of after) if (n - (before.get(field) ?? 0) > 0) delta.set(field, n - (before.get(field) ?? 0));
  return delta;
}

const pipelineOrder = (field: string) => (field.startsWith('find-subjects:') ? 0 : 1);

export function printStepLine(r: StepResult): void {
  const byStep = new Map<string, string[]>();
  for (const [field, n] of [...r.outcomes].sort(([a], [b]) => pipelineOrder(a) - pipelineOrder(b) || a.localeCompare(b))) {
    const [step, outcome] = field.split(':');
    if (outcome === 'jobs' || outcome === 'batches') continue;
    byStep.set(step, [...(byStep.get(step) ?? []), `${outcome} ${n.toLocaleString('en-US')}`]);
  }
  const detail = [...byStep].map(([step, list]) => `${step}: ${list.join(', ')}`).join('; ');
  console.log(`  -> ${plural(r.calls, 'API call')} (expected ${r.expected}), ${(r.ms / 1000).toFixed(1)} s` +
    `${ok(r) ? '' : '   <-- MISMATCH'}\n     ${plural(r.runs, 'run')} (batches), ${plural(r.jobs, 'new ticket')}${detail ? ` (${detail})` : ''}`);
}

/** The summary: what the writes cost in runs (batches) and in API calls, against what the data change called for. */
export function printTable(results: StepResult[]): void {
  const header = ['step', 'writes', 'runs', 'API calls', 'expected', 'match'];
  const rows = results.map((r) => [r.label, r.writes, r.runs, r.calls, r.expected, ok(r) ? 'yes' : 'NO']
    .map((v) => (typeof v === 'number' ? v.toLocaleString('en-US') : v)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
    .join(' | ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
}
