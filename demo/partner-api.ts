import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The "external API" the shop publishes to: a real HTTP server on loopback, so every publish the demo
 * counts really crossed a socket. It prints each request, except in bursts, where it prints the first
 * few and then only how many more came.
 */
export class PartnerApi {
  url = '';
  /** Requests received in the current step. */
  calls = 0;
  private printLimit = Infinity;
  private server?: Server;

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  beginStep(printLimit = Infinity): void {
    this.calls = 0;
    this.printLimit = printLimit;
  }

  /** Returns the step's request count. */
  endStep(): number {
    const hidden = this.calls - Math.min(this.calls, this.printLimit);
    if (hidden > 0) console.log(`  partner API <- ... and ${hidden} more requests, not shown`);
    return this.calls;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections(); // keep-alive sockets from the worker's fetch would hold close() open
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    this.calls += 1;
    if (this.calls <= this.printLimit) console.log(`  partner API <- ${req.method} ${req.url}${body ? ` ${body}` : ''}`);
    res.writeHead(204).end();
  }
}
