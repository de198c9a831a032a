import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The partner API for every contender: a real loopback HTTP server that counts requests and can tell when a
 * given order's document arrives (for commit -> API latency). Everyone posts through the demo's ApiClient.
 */
export class CountingApi {
  url = '';
  calls = 0;
  private server?: Server;
  private readonly waiters = new Map<string, (at: number) => void>();

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Resolves with performance.now() when a request for /orders/<id> arrives; rejects after timeoutMs. */
  whenCalled(id: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`bench: the API heard nothing for order ${id} within ${timeoutMs} ms: is the worker running?`));
      }, timeoutMs);
      this.waiters.set(id, (at) => { clearTimeout(timer); resolve(at); });
    });
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _chunk of req) { /* the body is not needed, only its arrival */ }
    const at = performance.now();
    this.calls += 1;
    const id = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
    const waiter = this.waiters.get(id);
    if (waiter) {
      this.waiters.delete(id);
      waiter(at);
    }
    res.writeHead(204).end();
  }
}
