// Real Connect clients against the service: connect-node with the code protoc-gen-es generated
// from proto/, over Connect JSON, Connect binary and gRPC-Web (HTTP/2), and Connect JSON and
// gRPC-Web over HTTP/1.1. Every unary RPC, the Watch RPCs, and an error's details read back as
// the generated typed fault. (browser.mjs does the same from a real browser.)
//
//   node check.mjs --addr 127.0.0.1:PORT
//
// Prints `ok <name>` or `FAIL <name>: <reason>` per check and, last, `N passed, N failed`.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ElastiCacheService, WatchEvent } from "./gen/elasticache/v1/service_pb.js";
import { ServerlessCacheSnapshotNotFoundFaultSchema } from "./gen/elasticache/v1/faults_pb.js";

const addr = process.argv[process.argv.indexOf("--addr") + 1];
if (!addr || addr === "--addr") {
  console.error("usage: node check.mjs --addr HOST:PORT");
  process.exit(2);
}
const baseUrl = `http://${addr}`;
const run = Date.now().toString(36);

let passed = 0;
let failed = 0;
const failedNames = new Set();

async function check(name, needs, fn) {
  const missing = needs.filter((n) => failedNames.has(n));
  if (missing.length) {
    failed++;
    failedNames.add(name);
    console.log(`FAIL ${name}: not run: prerequisite failed: ${missing.join(", ")}`);
    return;
  }
  try {
    await fn();
    passed++;
    console.log(`ok ${name}`);
  } catch (err) {
    failed++;
    failedNames.add(name);
    console.log(`FAIL ${name}: ${String(err?.stack ?? err).split("\n").slice(0, 2).join(" ")}`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** Watches to the end; the statuses seen, in order. */
async function watched(stream, pick) {
  const seen = [];
  for await (const message of stream) {
    seen.push(`${WatchEvent[message.event]}:${pick(message)}`);
  }
  return seen;
}

const transports = {
  "connect-json": createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }),
  "connect-binary": createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  "grpc-web": createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  "connect-json-http1": createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "grpc-web-http1": createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
};

async function lifecycle(kind, transport) {
  const client = createClient(ElastiCacheService, transport);
  const cache = `node-${kind}-${run}`;
  const snapshot = `${cache}-snap`;
  const copy = `${cache}-copy`;
  const c = (step) => `${kind}-${step}`;
  const cacheStatus = (m) => m.serverlessCache?.status;
  const snapStatus = (m) => m.serverlessCacheSnapshot?.status;
  const settles = (seen, from) =>
    expect(
      seen[0] === `INITIAL:${from}` && seen.at(-1) === "CHANGED:available",
      `watch saw ${seen.join(", ")}`,
    );

  await check(c("create-serverless-cache"), [], async () => {
    const r = await client.createServerlessCache({ serverlessCacheName: cache, engine: "valkey" });
    expect(r.serverlessCache?.status === "creating", `status ${r.serverlessCache?.status}`);
    settles(await watched(client.watchServerlessCache({ serverlessCacheName: cache }), cacheStatus), "creating");
  });
  await check(c("describe-serverless-caches"), [c("create-serverless-cache")], async () => {
    const r = await client.describeServerlessCaches({ serverlessCacheName: cache });
    expect(r.serverlessCaches[0]?.status === "available", JSON.stringify(r.serverlessCaches[0]?.status));
  });
  await check(c("modify-serverless-cache"), [c("create-serverless-cache")], async () => {
    const r = await client.modifyServerlessCache({ serverlessCacheName: cache, description: "from node" });
    expect(r.serverlessCache?.description === "from node", `description ${r.serverlessCache?.description}`);
    settles(await watched(client.watchServerlessCache({ serverlessCacheName: cache }), cacheStatus), "modifying");
  });
  await check(c("create-snapshot"), [c("modify-serverless-cache")], async () => {
    await client.createServerlessCacheSnapshot({ serverlessCacheName: cache, serverlessCacheSnapshotName: snapshot });
    settles(
      await watched(client.watchServerlessCacheSnapshot({ serverlessCacheSnapshotName: snapshot }), snapStatus),
      "creating",
    );
  });
  await check(c("export-snapshot"), [c("create-snapshot")], async () => {
    const r = await client.exportServerlessCacheSnapshot({
      serverlessCacheSnapshotName: snapshot,
      s3BucketName: "corp-cache-backups",
    });
    expect(r.serverlessCacheSnapshot?.status === "exporting", `status ${r.serverlessCacheSnapshot?.status}`);
    settles(
      await watched(client.watchServerlessCacheSnapshot({ serverlessCacheSnapshotName: snapshot }), snapStatus),
      "exporting",
    );
  });
  await check(c("copy-snapshot"), [c("export-snapshot")], async () => {
    await client.copyServerlessCacheSnapshot({
      sourceServerlessCacheSnapshotName: snapshot,
      targetServerlessCacheSnapshotName: copy,
    });
    settles(
      await watched(client.watchServerlessCacheSnapshot({ serverlessCacheSnapshotName: copy }), snapStatus),
      "creating",
    );
  });
  await check(c("describe-snapshots"), [c("copy-snapshot")], async () => {
    const r = await client.describeServerlessCacheSnapshots({ serverlessCacheName: cache });
    const names = r.serverlessCacheSnapshots.map((s) => s.serverlessCacheSnapshotName).sort();
    expect(JSON.stringify(names) === JSON.stringify([snapshot, copy].sort()), `snapshots ${names}`);
  });
  await check(c("delete-snapshots"), [c("describe-snapshots")], async () => {
    for (const name of [copy, snapshot]) {
      const r = await client.deleteServerlessCacheSnapshot({ serverlessCacheSnapshotName: name });
      expect(r.serverlessCacheSnapshot?.status === "deleting", `status ${r.serverlessCacheSnapshot?.status}`);
    }
    const seen = await watched(client.watchServerlessCacheSnapshot({ serverlessCacheSnapshotName: copy }), snapStatus);
    expect(seen.at(-1) === "DELETED:deleting", `watch of the deletion saw ${seen.join(", ")}`);
  });
  await check(c("delete-serverless-cache"), [c("delete-snapshots")], async () => {
    const r = await client.deleteServerlessCache({ serverlessCacheName: cache });
    expect(r.serverlessCache?.status === "deleting", `status ${r.serverlessCache?.status}`);
  });
  await check(c("error-details"), [], async () => {
    try {
      await client.exportServerlessCacheSnapshot({
        serverlessCacheSnapshotName: `${cache}-missing`,
        s3BucketName: "corp-cache-backups",
      });
    } catch (err) {
      const e = ConnectError.from(err);
      expect(e.code === Code.NotFound, `code ${Code[e.code]}`);
      const [fault] = e.findDetails(ServerlessCacheSnapshotNotFoundFaultSchema);
      expect(fault?.message?.includes("not found"), `typed fault ${JSON.stringify(fault)}`);
      const types = e.details.map((d) => d.desc?.typeName ?? d.type);
      for (const t of ["google.rpc.ErrorInfo", "google.rpc.RequestInfo", "google.rpc.ResourceInfo"]) {
        expect(types.includes(t), `no ${t} among ${types}`);
      }
      if (!kind.startsWith("grpc-web")) {
        const info = e.details.find((d) => d.type === "google.rpc.ErrorInfo");
        expect(info?.debug?.reason === "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND", `ErrorInfo debug ${JSON.stringify(info?.debug)}`);
      }
      return;
    }
    throw new Error("the export of a missing snapshot succeeded");
  });
}

await Promise.all(Object.entries(transports).map(([kind, transport]) => lifecycle(kind, transport)));
console.error(`connect_node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
