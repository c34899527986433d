// The Inbox of an account with two business numbers against a real `whatsapi --sandbox`: each customer message
// says which number it was sent to, the reply box says which number answers (the one the customer last wrote to),
// and the reply goes out on it. With one number nothing of this is shown. Screenshot at 1280 px.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, register, call, signedInPage, shots } from "./lib.mjs";

let env;
const CUSTOMER = "14155550177";
const EXTRA = "5551230042";

before(async () => { env = await start(["--plan-rpm", "free=600"]); });
after(async () => { await env?.stop(); });

test("inbox with two numbers: each message shows the number it was sent to; the reply goes out on the one the customer wrote to", async () => {
  const key = await register(env.base, "Katherine Johnson", "katherine@example.com");
  // With one number, no number is shown.
  assert.equal((await call(env.base, key, "POST", "/sandbox/inbound", { from: CUSTOMER, text: "Hello sales" })).status, 200);
  let page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/inbox/${CUSTOMER}`);
  await page.waitForSelector("#thread .bubble.in");
  assert.equal(await page.locator("#thread .bubble-number").count(), 0, "one number: none shown");
  await page.context().close();

  const added = await call(env.base, key, "POST", "/numbers", { whatsappPhoneNumberId: EXTRA });
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const numbers = (await call(env.base, key, "GET", "/numbers")).json.data;
  const label = (id) => { const n = numbers.find((x) => x.phoneNumberId === id); return n.displayPhoneNumber || n.phoneNumberId; };
  const def = numbers.find((n) => n.isDefault).phoneNumberId;
  const wrote = await call(env.base, key, "POST", "/sandbox/inbound", { from: CUSTOMER, text: "Hello support", to: EXTRA });
  assert.equal(wrote.status, 200, JSON.stringify(wrote.json));

  page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/inbox/${CUSTOMER}`);
  await page.waitForFunction(() => document.querySelectorAll("#thread .bubble.in").length === 2);
  const shown = await page.$$eval("#thread .bubble.in", (els) => els.map((e) => [e.dataset.number, e.querySelector(".bubble-number")?.textContent]));
  assert.deepEqual(shown, [[def, `to ${label(def)}`], [EXTRA, `to ${label(EXTRA)}`]]);
  assert.equal(await page.textContent("#reply-number"), label(EXTRA), "the reply answers on the number last written to");
  await page.screenshot({ path: join(shots, "60-inbox-two-numbers-1280.png"), fullPage: true });

  await page.fill("#reply-text", "Support here, how can we help?");
  await page.click("#reply-form button[type=submit]");
  await page.waitForSelector("#thread .bubble.out");
  assert.match(await page.textContent("#thread .bubble.out .bubble-number"), new RegExp(`from ${label(EXTRA).replace(/[+]/g, "\\+")}`));
  const sent = (await call(env.base, key, "GET", "/messages?limit=5")).json.data.find((m) => m.body === "Support here, how can we help?");
  assert.ok(sent, "the reply was sent");
  assert.equal(sent.from, EXTRA, "from the number the customer wrote to");
  await page.context().close();
});
