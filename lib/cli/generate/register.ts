import { CliError } from '../io';

const MACHINES_ARRAY = /export\s+const\s+machines\b[^=]*=\s*\[([^\]]*)\]/;

/**
 * Adds `import { Machine } from './file'` and an entry in `export const machines = [...]` to an index file,
 * each only when missing: running the generator twice registers a machine once. Returns the new text, or
 * the same text when nothing was missing.
 */
export function registerMachine(source: string, path: string, machine: string, file: string): string {
  const array = MACHINES_ARRAY.exec(source);
  if (!array) {
    throw new CliError(`${path} has no \`export const machines = [...]\` to register ${machine} in: add ` +
      `\`import { ${machine} } from './${file}';\` and put ${machine} in the list your app passes to SyncMachines.start.`);
  }
  let text = source;
  const body = array[1];
  if (!new RegExp(`\\b${machine}\\b`).test(body)) {
    let entries: string;
    if (body.trim() === '') entries = `\n  ${machine},\n`;
    else if (body.includes('\n')) entries = `${body.trimEnd().replace(/,?$/, ',')}\n  ${machine},\n`;
    else entries = `${body.trimEnd().replace(/,?$/, ',')} ${machine}`;
    const start = array.index + array[0].length - body.length - 1;
    text = `${text.slice(0, start)}${entries}${text.slice(start + body.length)}`;
  }
  const imported = new RegExp(`import\\s*\\{[^}]*\\b${machine}\\b[^}]*\\}\\s*from`);
  if (!imported.test(text)) {
    const statement = `import { ${machine} } from './${file}';\n`;
    // After the last import statement (up to its semicolon), else before the array.
    const imports = [...text.matchAll(/^import\b[^;]*;[ \t]*\n/gm)];
    const last = imports[imports.length - 1];
    const at = last ? last.index! + last[0].length : text.search(MACHINES_ARRAY);
    text = `${text.slice(0, at)}${statement}${last ? '' : '\n'}${text.slice(at)}`;
  }
  return text;
}
