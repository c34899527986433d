// The console (/app) and the API explorer (/docs) work under the server's Content-Security-Policy (no inline script,
// no inline style): each page renders, and Chromium reports no violation. Screenshots of both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const bin = process.env.WHATSAPI_BIN || join(root, "target", "debug", "whatsapi");
const browserPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const shots = join(root, "test-artifacts", "screenshots");

let server, browser, base;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
    s.on("error", fail);
  });
}

async function waitForServer(url, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { if ((await fetch(url)).ok) return; } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start at ${url}`);
}

/// A page that records every CSP violation (the DOM event and Chromium's console report).
async function watchedPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(15000);
  const violations = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
  });
  return { page, violations };
}

before(async () => {
  assert.ok(existsSync(bin), `build the server first (cargo build -p whatsapi-server): ${bin}`);
  assert.ok(existsSync(browserPath), `Chromium not found at ${browserPath}`);
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "whatsapi-e2e-"));
  const env = { ...process.env, WHATSAPI_LOG: "warn" };
  delete env.DATABASE_URL;
  server = spawn(bin, ["--sandbox", "--listen", `127.0.0.1:${port}`, "--database", join(dir, "whatsapi.db")], {
    stdio: ["ignore", "ignore", "inherit"],
    env,
  });
  await waitForServer(`${base}/healthz`);
  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test("the console works under its CSP, without violations", async () => {
  const { page, violations } = await watchedPage();
  const resp = await page.goto(`${base}/app`);
  const csp = resp.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(resp.headers()["x-frame-options"], "DENY");
  await page.click("#tab-register");
  await page.fill("#reg-name", "Grace Hopper");
  await page.fill("#reg-email", "grace@example.com");
  await page.click("#register-form button[type=submit]");
  assert.match((await page.textContent("#secret-value")).trim(), /^sk_live_[0-9a-f]{48}$/);
  await page.click("#continue");
  await page.goto(`${base}/app#/analytics`);
  await page.waitForSelector(".legend .swatch");
  await page.screenshot({ path: join(shots, "csp-app-analytics.png"), fullPage: true });
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${base}/app`);
  await page.waitForSelector("#tab-register");
  assert.ok(await page.isHidden("#shell"), "signed out, the console's navigation is hidden");
  await page.screenshot({ path: join(shots, "csp-app-sign-in.png"), fullPage: true });
  assert.deepEqual(violations, []);
  await page.close();
});

test("the API explorer works under its CSP, without violations", async () => {
  const { page, violations } = await watchedPage();
  const resp = await page.goto(`${base}/docs/`);
  assert.match(resp.headers()["content-security-policy"], /frame-ancestors 'none'/);
  await page.waitForSelector(".swagger-ui .info .title");
  assert.match(await page.textContent(".swagger-ui .info .title"), /whatsapi/);
  await page.waitForSelector(".opblock-summary-path");
  await page.click(".opblock-summary-path >> nth=0");
  await page.waitForSelector(".opblock-body");
  await page.screenshot({ path: join(shots, "csp-docs.png"), fullPage: false });
  assert.deepEqual(violations, []);
  await page.close();
});
