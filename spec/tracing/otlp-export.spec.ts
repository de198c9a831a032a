import { expect } from 'chai';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import type { NodeSDK } from '@opentelemetry/sdk-node';
import { startTelemetry, telemetryFromEnvironment } from '../../demo/telemetry';
import { Harness } from '../support/harness';

/** A real OTLP/HTTP receiver on loopback: it keeps what arrives at /v1/traces and /v1/metrics. */
async function startReceiver(): Promise<{ server: Server; url: string; posts: Array<{ path: string; body: string }> }> {
  const posts: Array<{ path: string; body: string }> = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    posts.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString() });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts };
}

describe("the demo's telemetry exports over OTLP/HTTP", () => {
  let h: Harness;
  let sdk: NodeSDK | undefined;
  afterEach(async () => {
    await h?.tearDown();
    trace.disable(); context.disable(); propagation.disable(); metrics.disable();
  });

  it('asks for nothing without OTEL_EXPORTER_OTLP_ENDPOINT or --trace console', () => {
    h = new Harness('sqlite', 'otlp');
    expect(startTelemetry('demo', telemetryFromEnvironment(['node', 'main.js'], {}))).to.equal(undefined);
    expect(telemetryFromEnvironment(['node', 'main.js', '--trace', 'console'], {})).to.deep.equal({ console: true, endpoint: undefined });
  });

  it('sends the pipeline spans and metrics to a receiver', async () => {
    const receiver = await startReceiver();
    sdk = startTelemetry('sync-machine-test', telemetryFromEnvironment(['node', 'main.js'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }));
    h = await new Harness('sqlite', 'otlp').setUp();
    const worker = await h.startWorker();
    await h.order(await h.customer());
    await worker.drain({ timeoutMs: 20_000 });
    await sdk!.shutdown(); // flushes spans and metrics
    receiver.server.close();

    const traces = receiver.posts.filter((p) => p.path === '/v1/traces').map((p) => p.body).join('\n');
    expect(traces).to.include('"sync-machine-test"');
    for (const name of ['publish', 'build', `process ${h.prefix}:OrderToApiSync:ensure-publication`, `send ${h.prefix}:OrderToApiSync:ensure-publication`]) {
      expect(traces, name).to.include(`"name":"${name}"`);
    }
    const exported = receiver.posts.filter((p) => p.path === '/v1/metrics').map((p) => p.body).join('\n');
    expect(exported).to.include('"sync_machine.runs"');
    expect(exported).to.include('"sync_machine.publish.latency"');
  });
});
