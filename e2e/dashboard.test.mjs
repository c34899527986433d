// Drives the dashboard in headless Chromium against a real `whatsapi --sandbox` server on loopback: registration,
// the guided setup to a delivered message, the messages table with a retry, and every page, with screenshots.
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

let server, browser, base, page;

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

const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

before(async () => {
  assert.ok(existsSync(bin), `build the server first (cargo build -p whatsapi-server): ${bin}`);
  assert.ok(existsSync(browserPath), `Chromium not found at ${browserPath}`);
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "whatsapi-e2e-"));
  // The SQLite file below, even where DATABASE_URL points at PostgreSQL (as in CI).
  const env = { ...process.env, WHATSAPI_LOG: "warn" };
  delete env.DATABASE_URL;
  server = spawn(bin, ["--sandbox", "--plan-rpm", "free=600", "--listen", `127.0.0.1:${port}`, "--database", join(dir, "whatsapi.db")], {
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
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(15000);
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test("register, then the guided setup reaches a delivered message in sandbox mode", async () => {
  await page.goto(`${base}/app`);
  await page.click("#tab-register");
  await page.fill("#reg-name", "Ada Lovelace");
  await page.fill("#reg-email", "ada@example.com");
  await page.click("#register-form button[type=submit]");
  const key = (await page.textContent("#secret-value")).trim();
  assert.match(key, /^sk_live_[0-9a-f]{48}$/);
  assert.match(await page.textContent(".warning"), /only once/);
  await shot("01-register-key-shown-once");
  await page.click("#continue");

  await page.waitForSelector("#step-credentials");
  assert.match(await page.textContent("#sandbox-banner"), /Sandbox mode/);
  assert.match(await page.textContent("#step-credentials"), /\/webhooks\/whatsapp/);
  await page.click("#verify");
  await page.waitForFunction(() => document.querySelector("#verify-result").textContent.includes("✓"));
  await page.fill("#first-to", "14155552671");
  await page.click("#first-form button[type=submit]");
  await page.waitForSelector("#first-delivered");
  assert.match(await page.textContent("#watch"), /delivered/);
  await shot("02-guided-setup-delivered");
});

test("messages table, detail with the error, and a retry of a failed message", async () => {
  const key = await page.evaluate(() => sessionStorage.getItem("whatsapi.key"));
  const send = async (to) => (await (await fetch(`${base}/send-message`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ to, message: "Your code is 1234" }),
  })).json()).data.id;
  const waitFailed = async (id) => {
    for (let i = 0; i < 100; i++) {
      const m = await (await fetch(`${base}/messages/${id}`, { headers: { Authorization: `Bearer ${key}` } })).json();
      if (m.data.status === "failed") return;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // A recipient the sandbox reports as undeliverable (131026: a retry cannot help), and free-form text outside the
  // customer-service window (131047: a retry can, once the customer writes in).
  const id = await send("15550000001");
  const outside = await send("15550000003");
  await waitFailed(id);
  await waitFailed(outside);
  await page.goto(`${base}/app#/messages`);
  await page.waitForSelector(`#messages-table tr[data-id="${id}"]`);
  await page.selectOption("#f-status", "failed");
  await page.click("#filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("status=failed"));
  await page.waitForSelector(`#messages-table tr[data-id="${id}"]`);
  assert.equal(await page.locator("#messages-table tbody tr").count(), 2);
  await shot("03-messages-filtered-failed");
  await page.click(`#messages-table tr[data-id="${id}"]`);
  await page.waitForSelector("#error-message");
  assert.match(await page.textContent("#error-message"), /131026/);
  assert.equal(await page.locator("#retry").count(), 0, "no Retry for an undeliverable number");
  await shot("04-message-detail-failed");
  await page.goto(`${base}/app#/messages/${outside}`);
  await page.waitForSelector("#error-message");
  assert.match(await page.textContent("#error-message"), /131047/);
  await page.click("#retry");
  await page.waitForFunction(() => document.querySelectorAll(".timeline li").length >= 3);
  const statuses = await page.$$eval(".timeline li .badge", (els) => els.map((e) => e.dataset.status));
  assert.deepEqual(statuses.slice(0, 3), ["queued", "failed", "queued"]);
  await shot("05-message-detail-after-retry");
});

test("analytics, webhooks and settings pages", async () => {
  await page.goto(`${base}/app#/analytics`);
  await page.waitForSelector("#chart");
  assert.equal(await page.textContent("#stat-total"), "3");
  assert.ok((await page.locator("#chart rect").count()) >= 1);
  await shot("06-analytics");

  await page.goto(`${base}/app#/webhooks`);
  await page.fill("#webhook-url", "http://127.0.0.1:9/hook");
  await page.click("#webhook-form button[type=submit]");
  await page.waitForSelector("#webhook-secret .secret");
  assert.match(await page.textContent("#webhook-secret"), /whsec_/);
  assert.equal(await page.textContent("#current-webhook"), "http://127.0.0.1:9/hook");
  await shot("07-webhooks-secret-shown-once");

  await page.goto(`${base}/app#/settings`);
  await page.waitForSelector("#plan");
  assert.equal(await page.textContent("#plan"), "free");
  await shot("08-settings");
  page.once("dialog", (d) => d.accept());
  await page.click("#rotate");
  await page.waitForSelector("#new-key .secret");
  const newKey = (await page.textContent("#secret-value")).trim();
  assert.match(newKey, /^sk_live_/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("whatsapi.key")), newKey);
});
