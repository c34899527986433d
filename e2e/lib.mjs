// Shared by the browser tests: a real `whatsapi --sandbox` server on loopback, Debian's Chromium, and checks of what
// a person actually sees (inside the viewport, not merely present in the DOM).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "..");
export const bin = process.env.WHATSAPI_BIN || join(root, "target", "debug", "whatsapi");
const browserPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const shots = join(root, "test-artifacts", "screenshots");

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

/// Starts the server (extra flags, e.g. `--plan-rpm`) and Chromium; returns `{ base, browser, stop }`.
export async function start(extra = []) {
  assert.ok(existsSync(bin), `build the server first (cargo build -p whatsapi-server): ${bin}`);
  assert.ok(existsSync(browserPath), `Chromium not found at ${browserPath}`);
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "whatsapi-e2e-"));
  const env = { ...process.env, WHATSAPI_LOG: "warn" };
  delete env.DATABASE_URL;
  const server = spawn(bin, ["--sandbox", ...extra, "--listen", `127.0.0.1:${port}`, "--database", join(dir, "whatsapi.db")], {
    stdio: ["ignore", "ignore", "inherit"],
    env,
  });
  await waitForServer(`${base}/healthz`);
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  return { base, browser, stop: async () => { await browser.close(); server.kill("SIGTERM"); } };
}

/// Registers an account over the API; returns its key.
export async function register(base, name, email) {
  const r = await fetch(`${base}/auth/register`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name, email }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()).data.apiKey;
}

/// Calls the API with a key.
export async function call(base, key, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, headers: r.headers, json: await r.json().catch(() => null) };
}

/// Asserts that `selector` is visible and its box lies inside the viewport (so no scrolling is needed to see it).
export async function assertInViewport(page, selector, what = selector) {
  const loc = page.locator(selector).first();
  assert.ok(await loc.isVisible(), `${what} is visible`);
  const box = await loc.boundingBox();
  const vp = page.viewportSize();
  assert.ok(box, `${what} has a box`);
  assert.ok(box.y >= 0 && box.y + box.height <= vp.height, `${what} is within the viewport vertically: ${JSON.stringify(box)} in ${vp.height}`);
  assert.ok(box.x >= 0 && box.x + box.width <= vp.width, `${what} is within the viewport horizontally: ${JSON.stringify(box)} in ${vp.width}`);
}

/// A page whose sessionStorage holds `key` before the console's script runs (signed in, as after a sign-in).
export async function signedInPage(browser, base, key, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  await context.addInitScript((k) => { if (!sessionStorage.getItem("whatsapi.key")) sessionStorage.setItem("whatsapi.key", k); }, key);
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  return page;
}
