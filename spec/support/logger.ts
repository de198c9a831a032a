import type { Logger } from '../../lib';

/** A logger that keeps its lines, so tests can assert on what a user would read. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: 'info' | 'warn' | 'error'; message: string }> = [];
  info(message: string) { this.lines.push({ level: 'info', message }); }
  warn(message: string) { this.lines.push({ level: 'warn', message }); }
  error(message: string) { this.lines.push({ level: 'error', message }); }

  infos(): string[] {
    return this.lines.filter((l) => l.level === 'info').map((l) => l.message);
  }

  errors(): string[] {
    return this.lines.filter((l) => l.level === 'error').map((l) => l.message);
  }

  warnings(): string[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => l.message);
  }
}
