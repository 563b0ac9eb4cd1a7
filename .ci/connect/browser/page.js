// What a web page does with the service: the official Connect web client (connect-web, fetch,
// so HTTP/1.1 on a plaintext origin) with the code protoc-gen-es generated from proto/. Bundled
// by esbuild (see ../browser.mjs) so that the page loads from a loopback origin with no network.
//
// The page reads the service's base URL from `?api=`, runs its checks, shows each one and an
// error's decoded details, and leaves the whole result as JSON in #result, then sets
// <body data-done>. `?expect=blocked` is the page served from an origin the service does not
// allow: every call must then fail in the browser (CORS), and that is the check.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ElastiCacheService, WatchEvent } from "../gen/elasticache/v1/service_pb.js";
import { ServerlessCacheSnapshotNotFoundFaultSchema } from "../gen/elasticache/v1/faults_pb.js";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("api");
const expectBlocked = params.get("expect") === "blocked";
const run = Date.now().toString(36);
const checks = [];
const shown = {};

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

function show(name, ok, detail) {
  checks.push({ name, ok, detail });
  const li = document.createElement("li");
  li.className = ok ? "ok" : "fail";
  li.textContent = `${ok ? "ok" : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`;
  document.getElementById("checks").append(li);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    show(name, true, detail ?? "");
  } catch (err) {
    show(name, false, String(err?.stack ?? err).split("\n").slice(0, 3).join(" "));
  }
}

/** Shows a ConnectError's details on the page: each detail's type and decoded JSON. */
function showDetails(err, fault) {
  const body = document.querySelector("#error-details tbody");
  for (const d of err.details) {
    const tr = document.createElement("tr");
    const type = document.createElement("td");
    type.textContent = d.desc?.typeName ?? d.type;
    const decoded = document.createElement("td");
    decoded.textContent = JSON.stringify(d.debug ?? null);
    tr.append(type, decoded);
    body.append(tr);
  }
  document.getElementById("typed-fault").textContent =
    `${err.code === Code.NotFound ? "not_found" : Code[err.code]}: ${fault?.message}`;
  shown.errorDetails = err.details.map((d) => ({ type: d.desc?.typeName ?? d.type, debug: d.debug ?? null }));
  shown.typedFault = fault?.message;
}

const connectJson = createClient(ElastiCacheService, createConnectTransport({ baseUrl }));
const connectBinary = createClient(
  ElastiCacheService,
  createConnectTransport({ baseUrl, useBinaryFormat: true }),
);
const grpcWeb = createClient(ElastiCacheService, createGrpcWebTransport({ baseUrl }));

async function allowed() {
  const cache = `browser-${run}`;
  await check("connect-json-unary-create", async () => {
    const r = await connectJson.createServerlessCache({ serverlessCacheName: cache, engine: "valkey" });
    expect(r.serverlessCache?.status === "creating", `status ${r.serverlessCache?.status}`);
    return `${cache} ${r.serverlessCache.status}`;
  });
  await check("connect-json-watch-streams-until-settled", async () => {
    const seen = [];
    for await (const m of connectJson.watchServerlessCache({ serverlessCacheName: cache })) {
      seen.push(`${WatchEvent[m.event]}:${m.serverlessCache?.status}`);
    }
    expect(seen[0] === "INITIAL:creating" && seen.at(-1) === "CHANGED:available", `watch saw ${seen}`);
    shown.watch = seen;
    return seen.join(", ");
  });
  await check("connect-binary-unary-describe", async () => {
    const r = await connectBinary.describeServerlessCaches({ serverlessCacheName: cache });
    const statuses = r.serverlessCaches.map((c) => c.status);
    expect(statuses.length === 1 && statuses[0] === "available", `statuses ${statuses}`);
    return r.serverlessCaches[0].status;
  });
  await check("connect-json-error-details", async () => {
    try {
      await connectJson.exportServerlessCacheSnapshot({
        serverlessCacheSnapshotName: `${cache}-missing`,
        s3BucketName: "corp-cache-backups",
      });
    } catch (caught) {
      const err = ConnectError.from(caught);
      expect(err.code === Code.NotFound, `code ${Code[err.code]}: ${err.message}`);
      const [fault] = err.findDetails(ServerlessCacheSnapshotNotFoundFaultSchema);
      expect(fault?.message?.includes("not found"), `typed fault ${JSON.stringify(fault)}`);
      const info = err.details.find((d) => d.type === "google.rpc.ErrorInfo");
      expect(info?.debug?.reason === "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND", `ErrorInfo ${JSON.stringify(info?.debug)}`);
      const request = err.details.find((d) => d.type === "google.rpc.RequestInfo");
      expect(request?.debug?.requestId, `RequestInfo ${JSON.stringify(request?.debug)}`);
      const resource = err.details.find((d) => d.type === "google.rpc.ResourceInfo");
      expect(resource?.debug?.resourceName === `${cache}-missing`, `ResourceInfo ${JSON.stringify(resource?.debug)}`);
      showDetails(err, fault);
      return `${info.debug.reason}; ${fault.message}`;
    }
    throw new Error("the export of a missing snapshot succeeded");
  });
  await check("grpc-web-unary-and-error-details", async () => {
    const r = await grpcWeb.describeServerlessCaches({ serverlessCacheName: cache });
    expect(r.serverlessCaches.length === 1, `caches ${r.serverlessCaches.length}`);
    try {
      await grpcWeb.exportServerlessCacheSnapshot({
        serverlessCacheSnapshotName: `${cache}-missing`,
        s3BucketName: "corp-cache-backups",
      });
    } catch (caught) {
      const err = ConnectError.from(caught);
      expect(err.code === Code.NotFound, `code ${Code[err.code]}: ${err.message}`);
      const [fault] = err.findDetails(ServerlessCacheSnapshotNotFoundFaultSchema);
      expect(fault?.message?.includes("not found"), `typed fault ${JSON.stringify(fault)}`);
      return fault.message;
    }
    throw new Error("the export of a missing snapshot succeeded over gRPC-Web");
  });
  await check("connect-get-with-fetch", async () => {
    const message = encodeURIComponent(JSON.stringify({ serverlessCacheName: cache }));
    const url = `${baseUrl}/elasticache.v1.ElastiCacheService/DescribeServerlessCaches?connect=v1&encoding=json&message=${message}`;
    const response = await fetch(url);
    const body = await response.json();
    expect(response.status === 200, `HTTP ${response.status}: ${JSON.stringify(body)}`);
    expect(body.serverlessCaches?.[0]?.serverlessCacheName === cache, JSON.stringify(body));
    expect(response.headers.get("x-request-id"), "x-request-id is not exposed to the page");
    return `HTTP ${response.status}`;
  });
}

async function blocked() {
  await check("disallowed-origin-is-refused-by-the-browser", async () => {
    try {
      await connectJson.describeServerlessCaches({});
    } catch (caught) {
      const err = ConnectError.from(caught);
      // fetch() rejects with a TypeError when CORS refuses the response: no status, no body.
      expect(err.code !== Code.NotFound && !err.rawMessage.includes("serverless"), `${Code[err.code]}: ${err.message}`);
      return `${Code[err.code]}: ${err.rawMessage}`;
    }
    throw new Error("a page from a disallowed origin read the response");
  });
}

try {
  expect(baseUrl, "no ?api= base URL");
  await (expectBlocked ? blocked() : allowed());
} catch (err) {
  show("page", false, String(err));
}
document.getElementById("result").textContent = JSON.stringify({ origin: location.origin, checks, shown }, null, 2);
document.body.dataset.done = "1";
