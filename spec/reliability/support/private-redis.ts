import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free loopback port, as the OS hands one out (another process could take it before us: rare enough). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrivateRedisOptions {
  /** `requirepass`. */
  password?: string;
  /** Serve TLS only (`--port 0 --tls-port`), with a self-signed certificate for 127.0.0.1 made here. */
  tls?: boolean;
  /** Do not start it yet: `start()` later (a Redis that is down at boot). */
  deferStart?: boolean;
  /** Keep nothing on disk (no append-only file): a restart comes back empty. */
  volatile?: boolean;
}

/**
 * A redis-server of the test's own, on a free loopback port, with an append-only file in a temp dir, so it
 * can be stopped and started again on the same port and data. The shared Redis is never touched.
 */
export class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'sm-redis-'));
  private child?: ChildProcess;
  /** The certificate (also its own CA) when `tls` is set. */
  ca?: string;

  private constructor(readonly port: number, readonly options: PrivateRedisOptions) {
    if (options.tls) {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(this.dir, 'key.pem'), '-out', join(this.dir, 'cert.pem'),
      ], { stdio: 'ignore' });
      this.ca = readFileSync(join(this.dir, 'cert.pem'), 'utf8');
    }
  }

  static async create(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options);
    if (!options.deferStart) await redis.start();
    return redis;
  }

  /** The certificate's file, for NODE_EXTRA_CA_CERTS (how a process trusts it with the URL form). */
  get caFile(): string {
    return join(this.dir, 'cert.pem');
  }

  /** The URL form, password included. */
  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `${this.options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts redis-server and resolves once it accepts connections (after loading its append-only file). */
  async start(): Promise<void> {
    if (this.child) throw new Error(`private Redis on ${this.port} is already running`);
    const args = ['--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', this.options.volatile ? 'no' : 'yes', '--daemonize', 'no',
      '--protected-mode', 'no', '--loglevel', 'notice'];
    if (this.options.tls) {
      args.push('--port', '0', '--tls-port', String(this.port), '--tls-cert-file', join(this.dir, 'cert.pem'),
        '--tls-key-file', join(this.dir, 'key.pem'), '--tls-ca-cert-file', join(this.dir, 'cert.pem'), '--tls-auth-clients', 'no');
    } else {
      args.push('--port', String(this.port));
    }
    if (this.options.password) args.push('--requirepass', this.options.password);
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          child.stdout!.off('data', onData);
          child.stdout!.resume(); // keep draining its log so it never blocks on a full pipe
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.resume();
      child.once('exit', (code) => reject(new Error(`redis-server on ${this.port} exited with ${code}:\n${output}`)));
    });
    child.removeAllListeners('exit');
    child.once('exit', () => { if (this.child === child) this.child = undefined; });
  }

  /** SIGTERM, which Redis treats as SHUTDOWN (the append-only file is flushed); resolves once it exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }

  /**
   * SIGSTOP: the process stops answering but its connections stay open (the kernel still accepts bytes), as a
   * frozen VM or a network that drops packets looks to a client. `thaw()` (SIGCONT) lets it go on.
   */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops it and starts it again on the same port and append-only file: its script cache is empty after. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    this.thaw(); // a stopped process would not act on SIGTERM
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
