import { NodeSDK } from '@opentelemetry/sdk-node';
import { ConsoleSpanExporter, SimpleSpanProcessor, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';

export interface TelemetryOptions {
  /** OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 (Jaeger all-in-one); traces go to /v1/traces, metrics to /v1/metrics. */
  endpoint?: string;
  /** Print spans on stdout instead. */
  console?: boolean;
}

/** What the demo asks for: `--trace console`, or OTEL_EXPORTER_OTLP_ENDPOINT. */
export function telemetryFromEnvironment(argv = process.argv, env = process.env): TelemetryOptions {
  const flag = argv.indexOf('--trace');
  return {
    console: (flag >= 0 && argv[flag + 1] === 'console') || env.SYNC_DEMO_TRACE === 'console',
    endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
  };
}

/**
 * The application owns the SDK; this is the demo's. Returns undefined when nothing was asked for, so the
 * library runs on the API's no-op path.
 */
export function startTelemetry(serviceName: string, options: TelemetryOptions): NodeSDK | undefined {
  if (!options.console && !options.endpoint) return undefined;
  const base = options.endpoint?.replace(/\/$/, '');
  const sdk = new NodeSDK({
    serviceName,
    autoDetectResources: false,
    instrumentations: [],
    spanProcessors: [options.console
      ? new SimpleSpanProcessor(new ConsoleSpanExporter())
      : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` }), { scheduledDelayMillis: 200 })],
    metricReaders: base && !options.console
      ? [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }), exportIntervalMillis: 1000 })]
      : [],
  });
  sdk.start();
  return sdk;
}
