// The console at 390 px and 1280 px, in light and dark, by keyboard: no horizontal page scroll, the sidebar folds
// into a menu, ids told apart by their tails, long ids wrap, the list refreshes while messages move (not in a
// hidden tab), Retry only where a retry can help, toasts announced. Screenshots of every page at both widths.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, register, call, assertInViewport, signedInPage, shots } from "./lib.mjs";

let env, key;
const sent = {};

async function waitStatus(id, want) {
  for (let i = 0; i < 200; i++) {
    const m = (await call(env.base, key, "GET", `/messages/${id}`)).json.data;
    if (want.includes(m.status)) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${id} never reached ${want}`);
}

before(async () => {
  env = await start(["--plan-rpm", "free=600"]);
  key = await register(env.base, "Dorothy Vaughan", "dorothy.vaughan.with.a.rather.long.address@example-organisation.example.com");
  const send = async (to, extra) => (await call(env.base, key, "POST", "/send-message", { to, ...extra })).json.data.id;
  sent.undeliverable = await send("15550000001", { message: "Your code is 1234" }); // 131026
  sent.outsideWindow = await send("15550000003", { message: "Are you there?" }); // 131047
  sent.templateMissing = await send("15550000008", { template: { name: "order_ready", language: "en_US", components: [{ type: "body", parameters: [{ type: "text", text: "Sarah" }, { type: "text", text: "#1042" }] }] } }); // 132001
  sent.ok = await send("14155552671", { template: { name: "hello_world", language: "en_US" } });
  for (const id of [sent.undeliverable, sent.outsideWindow, sent.templateMissing]) await waitStatus(id, ["failed"]);
  await waitStatus(sent.ok, ["delivered", "read"]);
});
after(async () => { await env?.stop(); });

const PAGES = (ids) => [
  ["setup", "#/setup", "#step-credentials"], ["messages", "#/messages", "#messages-table"],
  ["message-detail", `#/messages/${ids.ok}`, "#wamid"], ["analytics", "#/analytics", "#chart"],
  ["templates", "#/templates", "#templates-list"], ["inbox", "#/inbox", "#conversations"],
  ["webhooks", "#/webhooks", "#webhook-form"], ["settings", "#/settings", "#plan"],
];

for (const width of [390, 1280]) {
  test(`every page at ${width} px: no horizontal page scroll, long ids inside their card; screenshots`, async () => {
    const page = await signedInPage(env.browser, env.base, key, { viewport: { width, height: 844 } });
    for (const [name, hash, ready] of PAGES(sent)) {
      await page.goto(`${env.base}/app${hash}`);
      await page.waitForSelector(ready);
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
      assert.ok(scrollWidth <= innerWidth, `${name} at ${width}: page scrollWidth ${scrollWidth} <= ${innerWidth}`);
      await page.screenshot({ path: join(shots, `20-${name}-${width}.png`), fullPage: true });
    }
    // The message detail: the full id and the wamid stay inside the card.
    await page.goto(`${env.base}/app#/messages/${sent.ok}`);
    await page.waitForSelector("#wamid");
    assert.equal(await page.textContent("#message-id"), sent.ok);
    for (const sel of ["#wamid", "#message-id"]) {
      const [el, card] = await page.evaluate((s) => {
        const e = document.querySelector(s), c = e.closest(".card");
        const b = (x) => { const r = x.getBoundingClientRect(); return { left: r.left, right: r.right }; };
        return [b(e), b(c)];
      }, sel);
      assert.ok(el.right <= card.right && el.left >= card.left, `${sel} within its card at ${width}: ${JSON.stringify([el, card])}`);
    }
    // A long email on the settings page wraps too.
    await page.goto(`${env.base}/app#/settings`);
    await page.waitForSelector("#plan");
    const overflow = await page.evaluate(() => [...document.querySelectorAll(".card")].some((c) => c.scrollWidth > c.clientWidth + 1));
    assert.equal(overflow, false, `no card overflows on settings at ${width}`);
    if (width === 390) {
      // The sidebar is a top bar with a menu; the links show when it is opened.
      await assertInViewport(page, "#menu-toggle", "the menu button");
      assert.ok(await page.isHidden("a[data-nav=messages]"), "links folded away");
      await page.click("#menu-toggle");
      assert.equal(await page.getAttribute("#menu-toggle", "aria-expanded"), "true");
      await assertInViewport(page, "a[data-nav=messages]", "the Messages link");
      await page.screenshot({ path: join(shots, "21-menu-open-390.png") });
      await page.click("a[data-nav=messages]");
      await page.waitForSelector("#messages-table");
      assert.ok(await page.isHidden("a[data-nav=messages]"), "the menu closes after choosing");
      // The table scrolls inside its own container, not the page.
      const wrap = await page.evaluate(() => { const w = document.querySelector("#messages-table").parentElement; return { cls: w.className, sw: w.scrollWidth, cw: w.clientWidth }; });
      assert.equal(wrap.cls, "table-wrap");
      assert.ok(wrap.sw >= wrap.cw);
    } else {
      assert.ok(await page.isHidden("#menu-toggle"), "no menu button on a wide screen");
      await assertInViewport(page, "a[data-nav=messages]", "the Messages link in the sidebar");
    }
    await page.context().close();
  });
}

test("the console follows the system light/dark preference", async () => {
  const bg = {};
  for (const colorScheme of ["light", "dark"]) {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme });
    const page = await context.newPage();
    await page.goto(`${env.base}/app`);
    await page.waitForSelector("#api-key");
    bg[colorScheme] = await page.evaluate(() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]);
    await page.screenshot({ path: join(shots, `22-sign-in-${colorScheme}.png`) });
    await context.close();
  }
  assert.notEqual(bg.light[0], bg.dark[0], `backgrounds differ: ${JSON.stringify(bg)}`);
  assert.notEqual(bg.light[1], bg.dark[1], `text colours differ: ${JSON.stringify(bg)}`);
  const lum = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
  assert.ok(lum(bg.light[0]) > lum(bg.dark[0]), "light is lighter");
});

test("keyboard: Tab reaches a message row, Enter opens it; ids are told apart by their tails", async () => {
  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/messages`);
  await page.waitForSelector(`#messages-table tr[data-id="${sent.ok}"]`);
  const ids = await page.$$eval("#messages-table tbody tr", (trs) => trs.map((tr) => {
    const c = tr.querySelector("code.id");
    return { id: tr.dataset.id, shown: c.textContent.trim(), title: c.title };
  }));
  assert.ok(ids.length >= 4);
  assert.equal(new Set(ids.map((i) => i.shown)).size, ids.length, `shown ids differ: ${JSON.stringify(ids)}`);
  for (const i of ids) {
    assert.equal(i.title, i.id);
    assert.ok(i.shown.endsWith(i.id.slice(-8)));
  }
  let reached = null;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement.closest && document.activeElement.closest("#messages-table tbody tr")?.dataset.id);
  }
  assert.ok(reached, "Tab reaches a message row");
  await page.keyboard.press("Enter");
  await page.waitForFunction((id) => location.hash === `#/messages/${id}`, reached);
  await page.waitForSelector("#message-id");
  assert.equal(await page.textContent("#message-id"), reached, "the detail shows the full id");
  await page.context().close();
});

test("Retry only for failures a retry can fix; the toast is announced", async () => {
  for (const [id, code] of [[sent.undeliverable, 131026], [sent.templateMissing, 132001]]) {
    const m = (await call(env.base, key, "GET", `/messages/${id}`)).json.data;
    assert.equal(m.errorCode, code);
    assert.equal(m.retryable, false, `${code} is not retryable`);
  }
  const outside = (await call(env.base, key, "GET", `/messages/${sent.outsideWindow}`)).json.data;
  assert.equal(outside.errorCode, 131047);
  assert.equal(outside.retryable, true);
  assert.equal((await call(env.base, key, "GET", `/messages/${sent.ok}`)).json.data.retryable, false, "not failed");

  const page = await signedInPage(env.browser, env.base, key);
  for (const id of [sent.undeliverable, sent.templateMissing]) {
    await page.goto(`${env.base}/app#/messages/${id}`);
    // Going from one message to the next only changes the hash: wait for this message's view, not the last one's.
    await page.waitForFunction((want) => document.querySelector("#message-id")?.textContent === want, id);
    await page.waitForSelector("#error-message");
    assert.equal(await page.locator("#retry").count(), 0, "no Retry for a permanent error");
    await assertInViewport(page, "#no-retry", "why there is no retry");
  }
  await page.screenshot({ path: join(shots, "23-detail-permanent-failure-1280.png"), fullPage: true });
  await page.goto(`${env.base}/app#/messages/${sent.outsideWindow}`);
  await page.waitForSelector("#retry");
  assert.equal(await page.getAttribute("#toast", "aria-live"), "polite");
  await page.click("#retry");
  await page.waitForFunction(() => document.querySelector("#toast").textContent === "Queued again");
  await assertInViewport(page, "#toast", "the toast");
  await page.context().close();
});

test("the messages list refreshes by itself while messages move, stops when none does, and not in a hidden tab", async () => {
  const page = await signedInPage(env.browser, env.base, key);
  const reads = [];
  page.on("request", (r) => { if (new URL(r.url()).pathname === "/messages") reads.push(Date.now()); });
  // 15550000005: Meta answers 500 three times, so it stays queued/retrying for a while, then goes through.
  const id = (await call(env.base, key, "POST", "/send-message", { to: "15550000005", message: "Meta is down" })).json.data.id;
  await page.goto(`${env.base}/app#/messages`);
  await page.waitForSelector(`#messages-table tr[data-id="${id}"]`);
  const first = await page.getAttribute(`#messages-table tr[data-id="${id}"] .badge`, "data-status");
  assert.ok(["queued", "processing", "retrying", "sent"].includes(first), `moving at first: ${first}`);
  await page.waitForFunction((mid) => ["delivered", "read"].includes(document.querySelector(`#messages-table tr[data-id="${mid}"] .badge`)?.dataset.status), id, { timeout: 60000 });
  assert.ok(Number(await page.getAttribute("#view", "data-refreshes")) >= 1, "updated in place, without a reload");
  await page.waitForFunction(() => document.querySelector("#view").dataset.polling === "off", null, { timeout: 30000 });
  const settled = reads.length;
  await page.waitForTimeout(4000);
  assert.equal(reads.length, settled, "no polling once nothing moves");

  // A hidden tab does not poll; it catches up when shown again.
  const id2 = (await call(env.base, key, "POST", "/send-message", { to: "15550000005", message: "Meta is down again" })).json.data.id;
  await page.reload();
  await page.waitForSelector(`#messages-table tr[data-id="${id2}"]`);
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  const hiddenAt = reads.length;
  await page.waitForTimeout(7000);
  assert.equal(reads.length, hiddenAt, "no reads while hidden");
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await page.waitForFunction((mid) => ["delivered", "read"].includes(document.querySelector(`#messages-table tr[data-id="${mid}"] .badge`)?.dataset.status), id2, { timeout: 60000 });
  await page.context().close();
});
