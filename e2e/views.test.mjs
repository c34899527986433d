// The console's two-way views (issue 19 item 6) against a real `whatsapi --sandbox`: the Templates page lists the
// sandbox's store (and says what to set when there is no WABA id), webhook endpoints are created (secret shown once),
// their delivery log shows the failed attempts and a failed delivery is re-sent, and the Inbox shows a customer who
// wrote in, with a reply sent inside the 24-hour window appearing in the thread. At 1280 and 390 px; screenshots 5x.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, register, call, assertInViewport, signedInPage, shots } from "./lib.mjs";

let env, key;
const CUSTOMER = "14155550142";

before(async () => {
  env = await start(["--plan-rpm", "free=600"]);
  key = await register(env.base, "Mary Jackson", "mary@example.com");
});
after(async () => { await env?.stop(); });

async function noPageScroll(page, what) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
  assert.ok(scrollWidth <= innerWidth, `${what}: page scrollWidth ${scrollWidth} <= ${innerWidth}`);
}
const until = async (fn, what, ms = 15000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

test("templates: the sandbox's store is listed with status, category and placeholders; refresh; without credentials it says what to save", async () => {
  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/templates`);
  await page.waitForSelector("#templates-list");
  const names = await page.$$eval("#templates-list .tpl", (els) => els.map((e) => e.dataset.name));
  for (const n of ["hello_world", "order_update", "order_ready", "auth_code", "spring_sale"]) assert.ok(names.includes(n), `${n} is listed: ${names}`);
  const ready = page.locator('.tpl[data-name="order_ready"]');
  assert.match(await ready.textContent(), /Hi \{\{1\}\}, your order \{\{2\}\} is ready!/);
  assert.equal(await ready.locator(".ph").count(), 2, "both placeholders are marked");
  assert.equal(await ready.locator(".badge").getAttribute("data-status"), "APPROVED");
  assert.match(await ready.textContent(), /utility/);
  assert.equal(await page.locator('.tpl[data-name="spring_sale"] .badge').getAttribute("data-status"), "PENDING");
  assert.match(await page.textContent('.tpl[data-name="order_update"] .tpl-buttons'), /Track it/);
  assert.equal(await page.getAttribute('[data-nav="templates"]', "class"), "active");
  await page.screenshot({ path: join(shots, "50-templates-1280.png"), fullPage: true });

  await page.click("#templates-refresh");
  await page.waitForFunction(() => document.querySelector("#toast").textContent.includes("read from Meta"));
  assert.ok((await page.locator("#templates-list .tpl").count()) >= 8);

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${env.base}/app#/templates`);
  await page.waitForSelector("#templates-list");
  await noPageScroll(page, "templates at 390");
  await page.screenshot({ path: join(shots, "50-templates-390.png"), fullPage: true });

  // Without credentials (so without a WABA id) the page explains instead of listing nothing.
  const other = await register(env.base, "No Creds", "nocreds@example.com");
  assert.equal((await call(env.base, other, "DELETE", "/auth/me/credentials")).status, 200);
  const bare = await signedInPage(env.browser, env.base, other);
  await bare.goto(`${env.base}/app#/templates`);
  await bare.waitForSelector("#templates-error");
  assert.equal(await bare.locator("#templates-list").count(), 0);
  assert.match(await bare.textContent("#templates-error"), /credentials/i);
  await bare.screenshot({ path: join(shots, "51-templates-no-credentials-1280.png"), fullPage: true });
  await bare.context().close();
  await page.context().close();
});

test("webhook endpoints: create (secret once), the delivery log shows the failed attempts, a failed delivery is re-sent, delete", async () => {
  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/webhooks`);
  await page.waitForSelector("#endpoint-form");
  assert.equal(await page.locator("#no-endpoints").count(), 1);
  // A closed port on loopback: every delivery fails at once (the sandbox allows private targets).
  await page.fill("#endpoint-url", "http://127.0.0.1:9/events");
  await page.check('input[name=event][value="message.status_updated"]');
  await page.selectOption("#endpoint-retries", "none");
  await page.click("#endpoint-form button[type=submit]");
  await page.waitForSelector("#endpoint-secret-value");
  assert.match(await page.textContent("#endpoint-secret-value"), /^whsec_/);
  assert.match(await page.textContent("#endpoint-secret"), /Shown once/);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Copy", "focus moves to Copy");
  const endpoints = (await call(env.base, key, "GET", "/webhooks/endpoints")).json.data;
  assert.equal(endpoints.length, 1);
  assert.deepEqual(endpoints[0].events, ["message.status_updated"]);
  assert.deepEqual(endpoints[0].retrySchedule, []);
  assert.equal(await page.locator(`.endpoint[data-id="${endpoints[0].id}"] .endpoint-state`).textContent(), "enabled");
  await page.screenshot({ path: join(shots, "52-endpoint-created-secret-1280.png"), fullPage: true });

  // A send makes status events; their deliveries fail.
  const sent = await call(env.base, key, "POST", "/send-message", { to: "14155552671", template: { name: "hello_world", language: "en_US" } });
  assert.equal(sent.status, 202, JSON.stringify(sent.json));
  const path = `/webhooks/endpoints/${endpoints[0].id}/deliveries`;
  const first = await until(async () => (await call(env.base, key, "GET", path)).json.data.find((d) => d.status === "sent"), "a failed delivery of the sent event");
  assert.ok(first.httpStatus == null || first.httpStatus >= 300, JSON.stringify(first));

  await page.click(`button[data-log="${endpoints[0].id}"]`);
  const log = `#deliveries-${endpoints[0].id}`;
  await page.waitForSelector(`${log} tr[data-event="${first.eventId}"]`);
  assert.equal(await page.getAttribute(`button[data-log="${endpoints[0].id}"]`, "aria-expanded"), "true");
  const row = page.locator(`${log} tr[data-event="${first.eventId}"]`);
  assert.equal(await row.count(), 1);
  assert.equal(await row.getAttribute("data-outcome"), "failed");
  await page.screenshot({ path: join(shots, "53-endpoint-delivery-log-failed-1280.png"), fullPage: true });

  // Re-send: the event is tried again, so the log gains an attempt of the same event.
  await row.locator("button[data-resend]").click();
  await page.waitForFunction(() => document.querySelector("#toast").textContent.includes("Re-sent"));
  await until(async () => (await call(env.base, key, "GET", path)).json.data.filter((d) => d.eventId === first.eventId).length >= 2, "a second attempt");
  await page.click(`button[data-reload-log="${endpoints[0].id}"]`);
  await page.waitForFunction(([sel, id]) => document.querySelectorAll(`${sel} tr[data-event="${id}"]`).length >= 2, [log, first.eventId]);
  // Only the newest attempt of an event offers a Re-send.
  assert.equal(await page.locator(`${log} tr[data-event="${first.eventId}"] button[data-resend]`).count(), 1);
  await page.screenshot({ path: join(shots, "54-endpoint-resent-1280.png"), fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await noPageScroll(page, "webhooks at 390");
  await page.screenshot({ path: join(shots, "55-webhooks-endpoints-390.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // Disable, then enable again: the endpoint's state follows, at the API too.
  await page.click(`button[data-toggle="${endpoints[0].id}"]`);
  await page.waitForFunction((id) => document.querySelector(`.endpoint[data-id="${id}"] .endpoint-state`)?.textContent === "disabled", endpoints[0].id);
  assert.equal((await call(env.base, key, "GET", "/webhooks/endpoints")).json.data[0].enabled, false);
  await page.click(`button[data-toggle="${endpoints[0].id}"]`);
  await page.waitForFunction((id) => document.querySelector(`.endpoint[data-id="${id}"] .endpoint-state`)?.textContent === "enabled", endpoints[0].id);
  assert.equal((await call(env.base, key, "GET", "/webhooks/endpoints")).json.data[0].enabled, true);

  page.once("dialog", (d) => d.accept());
  await page.click(`button[data-delete="${endpoints[0].id}"]`);
  await page.waitForSelector("#no-endpoints");
  assert.equal((await call(env.base, key, "GET", "/webhooks/endpoints")).json.data.length, 0);
  await page.context().close();
});

test("the reference webhook's delivery log: a delivery whose retry failed too is re-sent from the console", async () => {
  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/webhooks`);
  await page.fill("#webhook-url", "http://127.0.0.1:9/hook");
  await page.click("#webhook-form button[type=submit]");
  await page.waitForSelector("#webhook-secret .secret");
  const sent = await call(env.base, key, "POST", "/send-message", { to: "14155552671", template: { name: "hello_world", language: "en_US" } });
  assert.equal(sent.status, 202);
  const attempts = async (id) => (await call(env.base, key, "GET", "/auth/me/webhook/deliveries?limit=50")).json.data.filter((d) => d.messageId === sent.json.data.id && (!id || d.eventId === id));
  // The reference webhook retries once after 5 s; after that attempt the event has failed for good.
  const failed = await until(async () => {
    const list = await attempts();
    const byEvent = {};
    for (const d of list) (byEvent[d.eventId] ||= []).push(d);
    return Object.values(byEvent).find((xs) => xs.length >= 2)?.[0];
  }, "an event tried twice", 30000);
  await page.click("#reload-deliveries");
  const row = page.locator(`#deliveries tr[data-event="${failed.eventId}"]`);
  await until(async () => (await row.count()) === 2, "both attempts listed");
  assert.equal(await page.locator(`#deliveries tr[data-event="${failed.eventId}"] button[data-resend]`).count(), 1);
  await page.click(`#deliveries tr[data-event="${failed.eventId}"] button[data-resend]`);
  await page.waitForFunction(() => document.querySelector("#toast").textContent.includes("Re-sent"));
  await until(async () => (await attempts(failed.eventId)).length >= 3, "a third attempt after the re-send");
  await page.context().close();
});

test("inbox: a customer who wrote in is listed with the window open; the thread shows it; a reply is sent and appears; new messages arrive while open", async (t) => {
  const wrote = await call(env.base, key, "POST", "/sandbox/inbound", { from: CUSTOMER, text: "Hi! Is my order ready?" });
  assert.equal(wrote.status, 200, JSON.stringify(wrote.json));
  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/inbox`);
  const item = `#conversations a[data-id="${CUSTOMER}"]`;
  await page.waitForSelector(item);
  assert.match(await page.textContent(item), /window open · \d+ h \d+ min left/);
  await page.screenshot({ path: join(shots, "56-inbox-list-1280.png"), fullPage: true });

  // By keyboard: focus the conversation and open it.
  await page.focus(item);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#thread .bubble.in");
  assert.match(await page.textContent("#thread .bubble.in"), /Is my order ready\?/);
  assert.equal(await page.getAttribute(item, "aria-current"), "true");
  assert.equal(await page.getAttribute("#reply", "data-window"), "open");

  await page.fill("#reply-text", "Yes, it is ready for pickup.");
  await page.click("#reply-form button[type=submit]");
  await page.waitForSelector("#thread .bubble.out");
  assert.match(await page.textContent("#thread .bubble.out"), /ready for pickup/);
  assert.equal(await page.inputValue("#reply-text"), "", "the box is emptied");
  // The reply is a real message to that number, and it travels (its status shows in its bubble as it changes).
  const sent = (await call(env.base, key, "GET", `/messages?limit=5`)).json.data.find((m) => m.body === "Yes, it is ready for pickup.");
  assert.ok(sent, "the reply was sent");
  assert.equal(sent.to, CUSTOMER);
  await until(async () => ["delivered", "read"].includes(await page.getAttribute("#thread .bubble.out .badge", "data-status")), "the reply's status in the thread");

  // The customer writes again: the open thread shows it without a reload, announced politely.
  assert.equal((await call(env.base, key, "POST", "/sandbox/inbound", { from: CUSTOMER, text: "Great, on my way" })).status, 200);
  await page.waitForFunction(() => [...document.querySelectorAll("#thread .bubble.in")].some((b) => b.textContent.includes("on my way")), null, { timeout: 30000 });
  assert.match(await page.textContent("#inbox-live"), /New message from/);
  const order = await page.$$eval("#thread .bubble", (els) => els.map((e) => e.dataset.direction));
  assert.deepEqual(order.slice(-3), ["inbound", "outbound", "inbound"], "oldest first, newest at the bottom");
  await page.screenshot({ path: join(shots, "57-inbox-thread-replied-1280.png"), fullPage: true });

  // Opt-out toggle: the contact is marked opted out through the API.
  await page.check("#opt-out");
  await page.waitForSelector("#thread-state .opted-out");
  const contact = (await call(env.base, key, "GET", `/contacts/${CUSTOMER}`)).json.data;
  assert.equal(contact.optedOut, true);
  await page.uncheck("#opt-out");
  await page.waitForFunction(() => !document.querySelector("#thread-state .opted-out"));
  assert.equal((await call(env.base, key, "GET", `/contacts/${CUSTOMER}`)).json.data.optedOut, false);

  // At 390 px the thread takes the screen, with a way back to the list.
  await page.setViewportSize({ width: 390, height: 844 });
  await noPageScroll(page, "inbox thread at 390");
  await assertInViewport(page, ".back a", "the way back to the conversations");
  assert.equal(await page.isVisible("#conversations"), false);
  await page.screenshot({ path: join(shots, "58-inbox-thread-390.png"), fullPage: true });
  await page.click(".back a");
  await page.waitForSelector("#no-thread");
  assert.ok(await page.isVisible(item));
  await noPageScroll(page, "inbox list at 390");
  await page.context().close();
});

test("inbox outside the window: a number we only sent to has its window closed; the reply box offers approved templates with their placeholders; a template with parameters is sent", async () => {
  const NEW = "14155550177";
  const first = await call(env.base, key, "POST", "/send-message", { to: NEW, template: { name: "hello_world", language: "en_US" } });
  assert.ok([200, 201, 202].includes(first.status), JSON.stringify(first.json));
  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/inbox/${NEW}`);
  await page.waitForSelector("#window-closed");
  assert.equal(await page.getAttribute("#reply", "data-window"), "closed");
  assert.equal(await page.locator("#reply-text").count(), 0, "no free-form box outside the window");
  await page.waitForSelector("#template-pick:not([disabled])");
  const options = await page.$$eval("#template-pick option", (els) => els.map((e) => e.textContent));
  assert.ok(options.some((o) => o.startsWith("order_ready")), options.join(", "));
  assert.ok(!options.some((o) => /rejected|pending/i.test(o)), "only approved templates are offered");
  const index = await page.$$eval("#template-pick option", (els) => els.find((e) => e.textContent.startsWith("order_ready")).value);
  await page.selectOption("#template-pick", index);
  await page.waitForSelector("#tpl-param-1");
  assert.match(await page.textContent("#template-params"), /\{\{1\}\}/);
  await page.fill("#tpl-param-0", "Sarah");
  await page.fill("#tpl-param-1", "#1042");
  await page.screenshot({ path: join(shots, "59-inbox-window-closed-1280.png"), fullPage: true });
  await page.click("#template-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#inbox-live").textContent.includes("order_ready"));
  const sent = await until(async () => (await call(env.base, key, "GET", `/messages?limit=10`)).json.data.find((m) => m.to === NEW && m.template && m.template.name === "order_ready"), "the template send");
  const params = sent.template.components[0].parameters.map((p) => p.text);
  assert.deepEqual(params, ["Sarah", "#1042"]);
  await until(async () => (await page.locator("#thread .bubble.out").count()) >= 2, "both sends in the thread");
  await page.setViewportSize({ width: 390, height: 844 });
  await noPageScroll(page, "closed window at 390");
  await page.screenshot({ path: join(shots, "59-inbox-window-closed-390.png"), fullPage: true });
  await page.context().close();
});

test("inbox: a message the customer edited shows the new text marked edited; one they deleted shows as deleted", async () => {
  const WHO = "14155550188";
  const first = await call(env.base, key, "POST", "/sandbox/inbound", { from: WHO, text: "See you at 4" });
  assert.equal(first.status, 200, JSON.stringify(first.json));
  const second = await call(env.base, key, "POST", "/sandbox/inbound", { from: WHO, text: "wrong chat, sorry" });
  const edited = await call(env.base, key, "POST", "/sandbox/inbound", { from: WHO, message: { type: "edit", edit: { original_message_id: first.json.data.wamid, message: { type: "text", text: { body: "See you at 5" } } } } });
  assert.equal(edited.status, 200, JSON.stringify(edited.json));
  const revoked = await call(env.base, key, "POST", "/sandbox/inbound", { from: WHO, message: { type: "revoke", revoke: { original_message_id: second.json.data.wamid } } });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  const thread = (await call(env.base, key, "GET", `/contacts/${WHO}`)).json.data.thread;
  assert.equal(thread.length, 2, "the edit and the revoke are folded into the messages they change");
  assert.equal(thread[1].text, "See you at 5");
  assert.ok(thread[1].editedAt);
  assert.equal(thread[0].text, null);
  assert.ok(thread[0].revokedAt);

  const page = await signedInPage(env.browser, env.base, key);
  await page.goto(`${env.base}/app#/inbox/${WHO}`);
  await page.waitForSelector("#thread .bubble.in");
  const bubbles = await page.$$eval("#thread .bubble.in", (els) => els.map((e) => e.textContent));
  assert.equal(bubbles.length, 2);
  assert.match(bubbles[0], /See you at 5/);
  assert.match(bubbles[0], /edited/);
  assert.doesNotMatch(bubbles[0], /at 4/);
  assert.match(bubbles[1], /This message was deleted/);
  assert.doesNotMatch(bubbles[1], /wrong chat/);
  await page.screenshot({ path: join(shots, "60-inbox-edited-deleted-1280.png"), fullPage: true });
  await page.context().close();
});
