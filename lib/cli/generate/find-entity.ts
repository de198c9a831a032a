import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FoundEntity {
  file: string;
  isDefault: boolean;
  /** The primary key property, when a decorator names it; else `id`. */
  primaryKey: string;
}

const SKIP = new Set(['node_modules', 'dist', 'build', 'sync-machines', 'migrations', '.git']);

function* sourceFiles(dir: string): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory() && !SKIP.has(entry.name)) yield* sourceFiles(join(dir, entry.name));
    else if (entry.isFile() && /\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield join(dir, entry.name);
  }
}

/** Looks under `dir` for the file that exports `class <name>`, so the machine can import it. */
export function findEntity(dir: string, name: string): FoundEntity | undefined {
  const declaration = new RegExp(`export\\s+(default\\s+)?(?:abstract\\s+)?class\\s+${name}\\b`);
  for (const file of sourceFiles(dir)) {
    const source = readFileSync(file, 'utf8');
    const match = declaration.exec(source);
    if (!match) continue;
    // TypeORM @PrimaryGeneratedColumn()/@PrimaryColumn(), MikroORM @PrimaryKey(), then the property name.
    const pk = /@Primary(?:Generated)?(?:Column|Key)\s*\([^)]*\)\s*(?:(?:public|private|protected|readonly|declare)\s+)*(\w+)/
      .exec(source.slice(match.index));
    return { file, isDefault: match[1] !== undefined, primaryKey: pk?.[1] ?? 'id' };
  }
  return undefined;
}

/** The classes declared with an ORM entity decorator under `dir`, for the message when the subject is not one. */
export function entityClassNames(dir: string): string[] {
  const declared = /@Entity\s*\([^)]*\)\s*(?:export\s+(?:default\s+)?)?(?:abstract\s+)?class\s+(\w+)/g;
  const names = new Set<string>();
  for (const file of sourceFiles(dir)) {
    for (const match of readFileSync(file, 'utf8').matchAll(declared)) names.add(match[1]);
  }
  return [...names].sort();
}
