// The console's Campaigns page (issue 21 item 4) against a real `whatsapi --sandbox`: campaigns are listed with their
// state, progress bar and live counts; a completed one shows 100% and its cost so far; a scheduled one is paused and
// then cancelled from the page. At 1280 and 390 px, with screenshots.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, register, call, assertInViewport, signedInPage, shots } from "./lib.mjs";

let env, key;

before(async () => {
  env = await start(["--plan-rpm", "free=600"]);
  key = await register(env.base, "Katherine Johnson", "katherine@example.com");
});
after(async () => { await env?.stop(); });

const until = async (fn, what, ms = 20000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

test("campaigns: listed with state and progress; a scheduled one is paused and cancelled from the page", async () => {
  const template = { name: "hello_world", language: "en_US" };
  const done = await call(env.base, key, "POST", "/campaigns", {
    name: "Welcome wave", template, ratePerSecond: 5,
    recipients: [0, 1, 2, 3].map((i) => ({ to: `141555510${i}0` })),
  });
  assert.equal(done.status, 201, JSON.stringify(done.json));
  const later = await call(env.base, key, "POST", "/campaigns", {
    name: "Spring sale", template, startAt: new Date(Date.now() + 3600_000).toISOString(),
    sendWindow: { from: "09:00", to: "20:00" },
    recipients: [{ to: "14155552671" }, { to: "447911123456", timeZone: "Europe/London" }],
  });
  assert.equal(later.status, 201, JSON.stringify(later.json));
  await until(async () => (await call(env.base, key, "GET", `/campaigns/${done.json.data.id}`)).json.data.state === "completed",
    "the first campaign completes");

  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/campaigns`);
  await page.waitForSelector("#campaigns-list .campaign");
  assert.equal(await page.getAttribute('[data-nav="campaigns"]', "class"), "active");
  const first = page.locator(`.campaign[data-id="${done.json.data.id}"]`);
  assert.equal(await first.getAttribute("data-state"), "completed");
  assert.match(await first.locator(".progress-text").textContent(), /4 of 4 settled \(100%\)/);
  assert.equal(await first.locator("progress").getAttribute("value"), "100");
  assert.equal(await page.locator(`.campaign[data-id="${later.json.data.id}"] progress`).getAttribute("value"), "0");
  assert.equal(await first.locator("button[data-action]").count(), 0, "a completed campaign has no actions");
  // Its cost so far: the sandbox bills each hello_world as utility; this server has no rate card, so unpriced.
  await first.locator("button[data-cost]").click();
  await page.waitForFunction((id) => document.querySelector(`[data-cost-of="${id}"]`)?.textContent.length > 0, done.json.data.id);
  assert.match(await first.locator(".campaign-cost").textContent(), /^4 billable messages · 4 without a rate/);
  const second = page.locator(`.campaign[data-id="${later.json.data.id}"]`);
  assert.equal(await second.getAttribute("data-state"), "scheduled");
  assert.match(await second.textContent(), /window 09:00–20:00 local/);
  await assertInViewport(page, `.campaign[data-id="${later.json.data.id}"] h2`, "the newest campaign's name");
  await page.screenshot({ path: join(shots, "70-campaigns-1280.png"), fullPage: true });

  await second.locator('button[data-action="pause"]').click();
  await page.waitForSelector(`.campaign[data-id="${later.json.data.id}"][data-state="paused"]`);
  await page.locator(`.campaign[data-id="${later.json.data.id}"] button[data-action="cancel"]`).click();
  await page.waitForSelector(`.campaign[data-id="${later.json.data.id}"][data-state="cancelled"]`);
  const cancelled = page.locator(`.campaign[data-id="${later.json.data.id}"]`);
  assert.match(await cancelled.locator(".counts").textContent(), /failed\s*2/);
  const api = await call(env.base, key, "GET", `/campaigns/${later.json.data.id}`);
  assert.equal(api.json.data.state, "cancelled");
  assert.equal(api.json.data.counts.failed, 2);

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${env.base}/app#/campaigns`);
  await page.waitForSelector("#campaigns-list .campaign");
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
  assert.ok(scrollWidth <= innerWidth, `no sideways scroll at 390 px: ${scrollWidth} <= ${innerWidth}`);
  await page.screenshot({ path: join(shots, "71-campaigns-390.png"), fullPage: true });
  await page.context().close();
});
