import { ConfigurationError, shownValue } from './errors';

/**
 * Refuses an options object that names a key `known` does not list. A misspelled option (`concurency`, `timeout`
 * for `timeoutMs`, `id` for `ids`) would otherwise be ignored: the default applies, and `resync({ id: [5] })` would
 * request every subject. The compiler catches these in object literals; a JavaScript config or a spread does not.
 * A key whose value is undefined is let through, as it changes nothing.
 */
export function refuseUnknownOptions(options: unknown, known: readonly string[], where: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigurationError(`${where}: options must be an object such as { ${known[0]}: ... }, got ${shownValue(options)}.`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    const near = closest(key, known);
    throw new ConfigurationError(`${where}: unknown option "${key}"${near ? `; did you mean "${near}"?` : '.'} ` +
      `It takes ${known.map((k) => `\`${k}\``).join(', ')}.`);
  }
}

/** The known key a misspelling most likely meant: the same but for case, or at most 2 edits away (a third of it). */
export function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    if (name.toLowerCase() === lower) return name;
    const distance = editDistance(lower, name.toLowerCase());
    if (distance <= Math.min(2, Math.ceil(name.length / 3)) && (!best || distance < best.distance)) best = { name, distance };
  }
  if (best) return best.name;
  // `timeout` for `timeoutMs`: one is the start of the other.
  return known.find((name) => name.length > 2 && lower.length > 2 &&
    (name.toLowerCase().startsWith(lower) || lower.startsWith(name.toLowerCase())));
}

/** Levenshtein distance; the names are short, so the plain two-row table does. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
