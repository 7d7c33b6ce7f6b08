// Raw @grpc/grpc-js calls against `skewscope serve --listen-grpc`: the
// answers a gRPC client gets for unknown methods, malformed and oversized
// messages, a missing or wrong token, and good Exports (plain and gzip).
//
// usage: node raw.js PORT TOKEN REQUEST.pb
//   REQUEST.pb: one ExportTraceServiceRequest (protobuf, no framing).
// Prints one JSON object: for each case {code, details, retry_ms, bytes}
// (retry_ms: the google.rpc.RetryInfo delay in grpc-status-details-bin, or
// null; bytes: the response message's length on success).
'use strict';

const fs = require('fs');
const grpc = require('@grpc/grpc-js');

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// Minimal protobuf reading, enough for google.rpc.Status -> Any ->
// RetryInfo -> Duration.
function fields(buf) {
  const out = [];
  let i = 0;
  const varint = () => {
    let x = 0n;
    let s = 0n;
    for (;;) {
      const b = buf[i++];
      x |= BigInt(b & 0x7f) << s;
      s += 7n;
      if (b < 0x80) return x;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const f = key >> 3;
    const wt = key & 7;
    if (wt === 0) out.push({ f, v: varint() });
    else if (wt === 2) {
      const n = Number(varint());
      out.push({ f, b: buf.subarray(i, i + n) });
      i += n;
    } else throw new Error(`wire type ${wt}`);
  }
  return out;
}

function retryMs(md) {
  const v = md && md.get('grpc-status-details-bin');
  if (!v || !v.length) return null;
  for (const d of fields(v[0]).filter((x) => x.f === 3)) {
    const any = fields(d.b);
    const url = any.find((x) => x.f === 1);
    const val = any.find((x) => x.f === 2);
    if (!url || !url.b.toString().endsWith('google.rpc.RetryInfo') || !val) continue;
    const dur = fields(fields(val.b).find((x) => x.f === 1).b);
    const s = dur.find((x) => x.f === 1);
    const ns = dur.find((x) => x.f === 2);
    return Number(s ? s.v : 0n) * 1000 + Number(ns ? ns.v : 0n) / 1e6;
  }
  return null;
}

function call(client, path, msg, token, opts = {}) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b) => b,
      (b) => b,
      msg,
      md,
      { deadline: Date.now() + 10000, ...opts },
      (err, resp) => {
        if (err)
          resolve({ code: err.code, details: err.details, retry_ms: retryMs(err.metadata) });
        else resolve({ code: 0, details: '', retry_ms: null, bytes: resp.length });
      },
    );
  });
}

async function main() {
  const [port, token, file] = process.argv.slice(2);
  const good = fs.readFileSync(file);
  const target = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const plain = new grpc.Client(target, creds);
  const gzip = new grpc.Client(target, creds, { 'grpc.default_compression_algorithm': 2 });
  // a span whose trace_id is a varint: the reader must refuse it
  const malformed = Buffer.from([0x0a, 0x08, 0x12, 0x06, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01]);
  // the length prefix of a field running past the end of the message
  const truncated = Buffer.from([0x0a, 0xff, 0x01, 0x0a]);
  const out = {
    unknown_method: await call(plain, '/opentelemetry.proto.collector.trace.v1.TraceService/Nope', good, token),
    unknown_service: await call(plain, '/skewscope.Nothing/Export', good, token),
    malformed: await call(plain, EXPORT, malformed, token),
    truncated: await call(plain, EXPORT, truncated, token),
    oversized: await call(plain, EXPORT, Buffer.alloc(200 * 1024, 0x41), token),
    no_token: await call(plain, EXPORT, good, null),
    wrong_token: await call(plain, EXPORT, good, `${token}x`),
    good: await call(plain, EXPORT, good, token),
    good_gzip: await call(gzip, EXPORT, good, token),
  };
  plain.close();
  gzip.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
