// The service from a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core; no browser is downloaded) loads a page from a loopback origin that
// `cors_allowed_origins` allows, and the page calls the service with the official Connect web
// client (connect-web: fetch, so HTTP/1.1 on plaintext) over Connect JSON, Connect binary and
// gRPC-Web: a unary call, a Watch streamed to its end, an error whose decoded details the page
// shows, and a Connect GET. The check reads the page's result and its DOM, checks that every
// response from the service came over HTTP/1.1, and loads the same page from an origin the
// service does not allow, whose calls the browser must refuse.
//
//   node browser.mjs --bin PATH/TO/elasticache-grpc      (CHROMIUM=/usr/bin/chromium by default)
//
// Starts its own facade (`--emulator`, a config file naming the page's origin), prints
// `ok <name>` or `FAIL <name>: <reason>` per check and, last, `N passed, N failed`. A missing
// Chromium is a failure, never a skip. BROWSER_SCREENSHOT=file.png keeps a picture of the page.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const started = Date.now();
const here = dirname(fileURLToPath(import.meta.url));
const argAt = process.argv.indexOf("--bin");
const bin = argAt > 0 ? process.argv[argAt + 1] : undefined;
if (!bin) {
  console.error("usage: node browser.mjs --bin PATH/TO/elasticache-grpc");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

let passed = 0;
let failed = 0;
const ok = (name, detail = "") => {
  passed++;
  console.log(`ok ${name}${detail ? ` (${detail})` : ""}`);
};
const fail = (name, why) => {
  failed++;
  console.log(`FAIL ${name}: ${String(why).replace(/\s+/g, " ").slice(0, 800)}`);
};
const log = (message) => console.error(`[browser ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

const cleanups = [];
async function finish() {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      log(`cleanup: ${err}`);
    }
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

if (!existsSync(executablePath)) {
  fail("browser-chromium-installed", `${executablePath} is missing (apt-get install chromium; CHROMIUM= names another)`);
  await finish();
}

// ---- the page, bundled so that it loads with no network -----------------------------------------

const esbuild = await import("esbuild");
const bundle = await esbuild.build({
  entryPoints: [join(here, "browser/page.js")],
  bundle: true,
  format: "esm",
  target: "chrome120",
  write: false,
  logLevel: "silent",
});
const pageJs = bundle.outputFiles[0].text;
const indexHtml = readFileSync(join(here, "browser/index.html"), "utf8");
log(`page bundled: ${(pageJs.length / 1024).toFixed(0)} KiB`);

/** A static server for the page on 127.0.0.1:0; its origin. */
async function pageServer() {
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(indexHtml);
    } else if (path === "/page.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(pageJs);
    } else if (path === "/favicon.ico") {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  server.closeIdleConnections?.();
  return `http://127.0.0.1:${server.address().port}`;
}
const allowedOrigin = await pageServer();
const otherOrigin = await pageServer();

// ---- the facade, allowing the page's origin ------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), "browser-check-"));
cleanups.push(() => rmSync(work, { recursive: true, force: true }));
const config = join(work, "config.toml");
writeFileSync(config, `[server]\ncors_allowed_origins = ["${allowedOrigin}"]\n`);
const facade = spawn(bin, ["--emulator", "--listen", "127.0.0.1:0", "--log-format", "json", "--config", config], {
  env: { ...process.env, AWS_ENDPOINT_URL: "", AWS_ENDPOINT_URL_ELASTICACHE: "", RUST_LOG: "info" },
  stdio: ["ignore", "ignore", "pipe"],
});
const facadeLog = [];
const exited = new Promise((resolve) => facade.on("exit", (code, signal) => resolve({ code, signal })));
cleanups.push(async () => {
  facade.kill("SIGTERM");
  const { code, signal } = await exited;
  if (code !== 0) log(`facade exited with ${code ?? signal}`);
});
let api;
try {
  api = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the facade did not listen within 30 s")), 30_000);
    let pending = "";
    facade.stderr.on("data", (chunk) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        facadeLog.push(line);
        const address = line.includes("elasticache-grpc listening") && /"address":"([^"]+)"/.exec(line);
        if (address) {
          clearTimeout(timer);
          resolve(`http://${address[1]}`);
        }
      }
    });
    exited.then(({ code, signal }) => reject(new Error(`the facade exited with ${code ?? signal}`)));
  });
  ok("browser-facade-started", `${api}, page origin ${allowedOrigin} allowed`);
} catch (err) {
  fail("browser-facade-started", `${err.message}; log: ${facadeLog.slice(-5).join(" | ")}`);
  await finish();
}

// ---- Chromium -------------------------------------------------------------------------------------

const { chromium } = await import("playwright-core");
let browser;
try {
  // Playwright gives the browser a fresh, empty user-data-dir of its own; the flags keep Chromium
  // off the network it does not have (and, as root, without its sandbox).
  browser = await chromium.launch({
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 30_000,
  });
  cleanups.push(() => browser.close());
  ok("browser-chromium-launched", `Chromium ${browser.version()}`);
} catch (err) {
  fail("browser-chromium-launched", err.message);
  await finish();
}

/** Loads the page from `origin`; its result, the DOM's detail rows, and the protocols the
 * service's responses came over. */
async function visit(origin, query) {
  const page = await browser.newPage();
  const protocols = [];
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  cdp.on("Network.responseReceived", ({ response }) => {
    if (response.url.startsWith(api)) protocols.push(response.protocol);
  });
  page.on("pageerror", (err) => log(`page error: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") log(`console: ${m.text()}`);
  });
  await page.goto(`${origin}/?api=${encodeURIComponent(api)}${query}`);
  await page.waitForSelector("body[data-done]", { timeout: 60_000 });
  const result = JSON.parse(await page.textContent("#result"));
  const rows = await page.$$eval("#error-details tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)),
  );
  const typedFault = await page.textContent("#typed-fault");
  if (process.env.BROWSER_SCREENSHOT && !query) {
    await page.screenshot({ path: process.env.BROWSER_SCREENSHOT, fullPage: true });
  }
  await page.close();
  return { result, rows, typedFault, protocols };
}

try {
  const { result, rows, typedFault, protocols } = await visit(allowedOrigin, "");
  for (const c of result.checks) {
    if (c.ok) ok(`browser-${c.name}`, c.detail);
    else fail(`browser-${c.name}`, c.detail);
  }
  if (result.checks.length < 6) fail("browser-page-checks", `the page ran ${result.checks.length} checks of 6`);
  // What the page shows of the error: every detail with its decoded JSON, and the typed fault.
  const types = rows.map(([type]) => type);
  const errorInfo = rows.find(([type]) => type === "google.rpc.ErrorInfo");
  if (
    ["google.rpc.ErrorInfo", "google.rpc.RequestInfo", "google.rpc.ResourceInfo", "elasticache.v1.ServerlessCacheSnapshotNotFoundFault"].every((t) => types.includes(t)) &&
    errorInfo?.[1].includes('"reason":"SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND"') &&
    /^not_found: Serverless cache snapshot .* not found/.test(typedFault)
  ) {
    ok("browser-page-shows-decoded-error-details", `${rows.length} details; ${typedFault}`);
  } else {
    fail("browser-page-shows-decoded-error-details", `rows ${JSON.stringify(rows)}; typed fault ${JSON.stringify(typedFault)}`);
  }
  const distinct = [...new Set(protocols)];
  if (protocols.length >= 6 && distinct.length === 1 && distinct[0] === "http/1.1") {
    ok("browser-calls-went-over-http1.1", `${protocols.length} responses, all ${distinct[0]}`);
  } else {
    fail("browser-calls-went-over-http1.1", `protocols of the service's responses: ${JSON.stringify(protocols)}`);
  }
} catch (err) {
  fail("browser-allowed-origin-page", err.stack ?? err);
}

try {
  const { result } = await visit(otherOrigin, "&expect=blocked");
  for (const c of result.checks) {
    if (c.ok) ok(`browser-${c.name}`, c.detail);
    else fail(`browser-${c.name}`, c.detail);
  }
  if (result.checks.length !== 1) fail("browser-blocked-page-checks", JSON.stringify(result.checks));
} catch (err) {
  fail("browser-disallowed-origin-page", err.stack ?? err);
}

await finish();
