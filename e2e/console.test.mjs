// The console on the default plans (free: 20 API requests a minute): the first screen is the sign-in form, inside
// the viewport; page views do not throttle it out of use; a 429 shows a notice, is retried after Retry-After, and
// never signs the user out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, register, call, assertInViewport, signedInPage, shots } from "./lib.mjs";

let env, key;

before(async () => { env = await start(); });
after(async () => { await env?.stop(); });

test("a first visit at 1280×900 shows the sign-in form in the viewport, and so does signing out", async () => {
  const page = await env.browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  await page.goto(`${env.base}/app`);
  await page.waitForSelector("#api-key");
  assert.ok(await page.isHidden("#shell"), "no console shell before signing in");
  await assertInViewport(page, "#api-key", "the API key field");
  await assertInViewport(page, "#signin-form button[type=submit]", "the Sign in button");
  await assertInViewport(page, "#tab-register", "the Register tab");
  await page.screenshot({ path: join(shots, "10-first-visit-1280.png") });

  // The skip link is the first thing Tab reaches.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), "Skip to content");
  await assertInViewport(page, "#skip-link", "the focused skip link");

  await page.click("#tab-register");
  await page.fill("#reg-name", "Katherine Johnson");
  await page.fill("#reg-email", "katherine@example.com");
  await page.click("#register-form button[type=submit]");
  key = (await page.textContent("#secret-value")).trim();
  await page.click("#continue");
  await page.waitForSelector("#step-credentials");
  await assertInViewport(page, "#sign-out", "Sign out");
  await page.click("#sign-out");
  await page.waitForSelector("#api-key");
  assert.ok(await page.isHidden("#shell"), "signed out, the shell is hidden");
  await assertInViewport(page, "#api-key", "the API key field after signing out");
  await assertInViewport(page, "#signin-form button[type=submit]", "the Sign in button after signing out");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("whatsapi.key")), null);
  await page.screenshot({ path: join(shots, "11-signed-out-1280.png") });
  await page.context().close();
});

test("15 page views on a free key in the browser never sign out", async () => {
  const page = await signedInPage(env.browser, env.base, key);
  page.on("dialog", (d) => d.accept());
  const pages = [
    ["#/messages", "#messages-table"], ["#/analytics", "#chart"], ["#/webhooks", "#webhook-form"],
    ["#/settings", "#plan"], ["#/setup", "#step-credentials"],
  ];
  for (let i = 0; i < 15; i++) {
    const [hash, ready] = pages[i % pages.length];
    await page.goto("about:blank");
    await page.goto(`${env.base}/app${hash}`); // a full page view, as a reload or a new tab
    // Either the page, or (the failure this guards against) the sign-in form.
    await page.waitForSelector(`${ready}, #auth:not([hidden]) #api-key`, { timeout: 70000 });
    assert.ok(await page.isHidden("#auth"), `page view ${i + 1} (${hash}) is still signed in`);
  }
  assert.equal(await page.evaluate(() => sessionStorage.getItem("whatsapi.key")), key);
  await page.context().close();
});

test("a 429 during sign-in shows a notice, keeps the key, and signs in after Retry-After", async () => {
  // Spend what is left of this minute's budget directly.
  let r;
  for (let i = 0; i < 25; i++) {
    r = await call(env.base, key, "GET", "/auth/me");
    if (r.status === 429) break;
  }
  assert.equal(r.status, 429, "the budget is spent");
  const retryAfter = Number(r.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60);

  const page = await env.browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  await page.goto(`${env.base}/app`);
  await page.fill("#api-key", key);
  await page.click("#signin-form button[type=submit]");
  await page.waitForFunction(() => /rate limit/i.test(document.querySelector("#notice").textContent));
  await assertInViewport(page, "#notice", "the rate-limit notice");
  assert.match(await page.textContent("#notice"), /trying again in \d+ s/);
  assert.equal(await page.getAttribute("#notice", "aria-live"), "polite");
  assert.ok(await page.isHidden("#shell"), "not in yet");
  assert.equal(await page.locator("#auth .error").count(), 0, "no error: the key is not declared invalid");
  await page.screenshot({ path: join(shots, "12-rate-limited-sign-in-1280.png") });

  // After Retry-After the console tries again by itself and gets in.
  await page.waitForSelector("#shell:not([hidden])", { timeout: (retryAfter + 15) * 1000 });
  await page.waitForSelector("#step-credentials", { timeout: 30000 });
  assert.equal(await page.textContent("#notice"), "");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("whatsapi.key")), key);
  await page.close();
});
