// A three-service pipeline traced with the OpenTelemetry JS SDK and
// exported over OTLP/gRPC (@opentelemetry/exporter-trace-otlp-grpc on
// @grpc/grpc-js) to `skewscope serve --listen-grpc`.
//
// Three tracer providers, one per service (distinct service.name and
// host.name, so three clock domains): gateway -> worker -> store, each hop a
// CLIENT span on the caller and a SERVER span on the callee, with a real
// causal delay (busy-waited, so that the request and the reply hop take the
// same time). The worker's clock is SKEW_MS ahead: its provider stamps
// every span with its own clock (explicit start and end times), the real
// clock plus the skew. serve must find the worker SKEW_MS ahead of the
// gateway and the store on time.
//
// usage: node pipeline.js PORT [--requests N] [--skew-ms MS] [--token T]
//                              [--gzip SERVICE]...
// Prints one JSON line: {"spans": sent, "exports_ok": n, "exports_failed": n,
// "errors": [...]}; exits 1 when an export failed.
'use strict';

const { trace, context, SpanKind } = require('@opentelemetry/api');
const { TracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { Metadata } = require('@grpc/grpc-js');

function parseArgs(argv) {
  const a = { port: Number(argv[0]), requests: 300, skewMs: 5, token: null, gzip: [] };
  for (let i = 1; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--requests') a.requests = Number(v);
    else if (argv[i] === '--skew-ms') a.skewMs = Number(v);
    else if (argv[i] === '--token') a.token = v;
    else if (argv[i] === '--gzip') a.gzip.push(v);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!(a.port > 0)) throw new Error('usage: node pipeline.js PORT [options]');
  return a;
}

// Nanoseconds since the epoch from a monotonic source: the wall clock once,
// then process.hrtime (so that busy-waited microseconds show).
const baseNs = BigInt(Date.now()) * 1000000n;
const hr0 = process.hrtime.bigint();
function nowNs() {
  return baseNs + (process.hrtime.bigint() - hr0);
}
function hrTime(ns) {
  return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}
function spin(us) {
  const until = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < until);
}

const result = { spans: 0, exports_ok: 0, exports_failed: 0, errors: [] };

// One service: its provider, exporter and clock (skewNs ahead).
function service(a, name, host, skewNs) {
  const metadata = new Metadata();
  if (a.token) metadata.set('authorization', `Bearer ${a.token}`);
  const exporter = new OTLPTraceExporter({
    url: `http://127.0.0.1:${a.port}`,
    metadata,
    compression: a.gzip.includes(name) ? 'gzip' : 'none',
  });
  // count what the exporter reports back, export by export
  const origExport = exporter.export.bind(exporter);
  exporter.export = (spans, done) =>
    origExport(spans, (res) => {
      if (res.code === 0) result.exports_ok++;
      else {
        result.exports_failed++;
        result.errors.push(`${name}: ${res.error && res.error.message}`);
      }
      done(res);
    });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': name, 'host.name': host }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter, maxExportBatchSize: 256, scheduledDelayMillis: 100 }),
    ],
  });
  return {
    provider,
    tracer: provider.getTracer('skewscope-grpc-test'),
    clock: () => hrTime(nowNs() + skewNs),
  };
}

function start(svc, name, kind, parent) {
  const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
  result.spans++;
  return svc.tracer.startSpan(name, { kind, startTime: svc.clock() }, ctx);
}

// One request through the pipeline. HOP_US is the one-way "network"
// delay, the same both ways; WORK_US the callee's work.
const HOP_US = 300;
const WORK_US = 100;
function request(gw, wk, st) {
  const root = start(gw, 'handle', SpanKind.SERVER, null);
  spin(WORK_US);
  const call1 = start(gw, 'call worker', SpanKind.CLIENT, root);
  spin(HOP_US);
  const srv1 = start(wk, 'work', SpanKind.SERVER, call1);
  spin(WORK_US);
  const call2 = start(wk, 'call store', SpanKind.CLIENT, srv1);
  spin(HOP_US);
  const srv2 = start(st, 'store', SpanKind.SERVER, call2);
  spin(WORK_US);
  srv2.end(st.clock());
  spin(HOP_US);
  call2.end(wk.clock());
  spin(WORK_US);
  srv1.end(wk.clock());
  spin(HOP_US);
  call1.end(gw.clock());
  spin(WORK_US);
  root.end(gw.clock());
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const skewNs = BigInt(Math.round(a.skewMs * 1e6));
  const gw = service(a, 'gateway', 'node-gateway', 0n);
  const wk = service(a, 'worker', 'node-worker', skewNs);
  const st = service(a, 'store', 'node-store', 0n);
  for (let i = 0; i < a.requests; i++) {
    request(gw, wk, st);
    if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let exports run
  }
  for (const s of [gw, wk, st]) await s.provider.forceFlush();
  for (const s of [gw, wk, st]) await s.provider.shutdown();
  console.log(JSON.stringify(result));
  process.exit(result.exports_failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
