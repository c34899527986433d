// The console's message detail by type (issue 18 item 8): an image sent by link shows its type, caption and a link
// that opens in a new tab (never an <img>: the customer's URL is not fetched by the operator's browser); an
// interactive button message its type, body and titles as chips; a location its name, address, coordinates and an
// OpenStreetMap link; a reaction its emoji and the message it reacts to. The messages table labels each type instead
// of an empty body. At 1280 and 390 px, light and dark, without horizontal page scroll; everything escaped.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, register, call, assertInViewport, signedInPage, shots } from "./lib.mjs";

let env, key;
const CUSTOMER = "14155550188"; // an ordinary number: free-form types need the customer to write in first
const IMAGE = "https://cdn.example.com/menus/today.jpg?size=large&v=<2>";
const ids = {};

async function waitStatus(id, want = ["failed", "delivered", "read"]) {
  for (let i = 0; i < 200; i++) {
    const m = (await call(env.base, key, "GET", `/messages/${id}`)).json.data;
    if (want.includes(m.status)) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${id} never reached ${want}`);
}
async function send(body) {
  const r = await call(env.base, key, "POST", "/send-message", { to: CUSTOMER, ...body });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  return r.json.data.id;
}
async function noPageScroll(page, what) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
  assert.ok(scrollWidth <= innerWidth, `${what}: page scrollWidth ${scrollWidth} <= ${innerWidth}`);
}

before(async () => {
  env = await start(["--plan-rpm", "free=600"]);
  key = await register(env.base, "Grace Hopper", "grace@example.com");
  const inbound = await call(env.base, key, "POST", "/sandbox/inbound", { from: CUSTOMER, text: "Hi!" });
  assert.ok(inbound.status < 300, JSON.stringify(inbound.json));
  ids.image = await send({ image: { link: IMAGE, caption: "Today's menu <b>fresh</b>" } });
  ids.interactive = await send({
    interactive: {
      type: "button", body: { text: "Confirm Friday 9:00?" },
      action: { buttons: [{ type: "reply", reply: { id: "yes", title: "Yes" } }, { type: "reply", reply: { id: "no", title: "No <script>" } }] },
    },
  });
  ids.location = await send({ location: { latitude: 52.5163, longitude: 13.3777, name: "Brandenburg Gate", address: "Pariser Platz, 10117 Berlin" } });
  const img = await waitStatus(ids.image);
  assert.ok(["delivered", "read"].includes(img.status), JSON.stringify(img));
  await waitStatus(ids.interactive);
  await waitStatus(ids.location);
  assert.ok(img.wamid, "the image has a Meta id to react to");
  ids.reaction = await send({ reaction: { message_id: img.wamid, emoji: "👍" } });
  await waitStatus(ids.reaction);
  ids.wamid = img.wamid;
});
after(async () => { await env?.stop(); });

async function openDetail(page, id) {
  await page.goto(`${env.base}/app#/messages/${id}`);
  // Going from one message to the next only changes the hash: wait for this message's view, not the last one's.
  await page.waitForFunction((want) => document.querySelector("#message-id")?.textContent === want, id);
  await page.waitForSelector("#message-content");
}

for (const width of [1280, 390]) {
  test(`message detail by type at ${width} px: image, interactive, location, reaction`, async () => {
    const page = await signedInPage(env.browser, env.base, key, { viewport: { width, height: width === 390 ? 844 : 900 } });
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));

    // Image: type, caption, a link to the URL in a new tab with rel=noopener; no <img>, no request to the URL.
    await openDetail(page, ids.image);
    assert.equal(await page.getAttribute("#message-content", "data-type"), "image");
    assert.equal(await page.textContent("#message-content .type-tag"), "image");
    assert.equal(await page.textContent("#media-caption"), "Today's menu <b>fresh</b>", "the caption is escaped, not markup");
    assert.equal(await page.getAttribute("#media-link", "href"), IMAGE);
    assert.equal(await page.getAttribute("#media-link", "target"), "_blank");
    assert.match(await page.getAttribute("#media-link", "rel"), /\bnoopener\b/);
    assert.equal((await page.textContent("#media-link")).trim(), IMAGE);
    assert.equal(await page.locator("#view img, #view b").count(), 0, "no image loaded, no caption markup rendered");
    await noPageScroll(page, `image detail at ${width}`);
    await page.locator("#media-link").scrollIntoViewIfNeeded();
    await assertInViewport(page, "#media-link", "the media link");
    await page.screenshot({ path: join(shots, `40-detail-image-${width}.png`), fullPage: true });

    // Keyboard: Tab reaches the media link.
    await page.focus("a[href='#/messages']");
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement && document.activeElement.id === "media-link");
    }
    assert.ok(reached, "the media link is reachable by keyboard");

    // Interactive: type, body, titles as chips.
    await openDetail(page, ids.interactive);
    assert.equal(await page.getAttribute("#message-content", "data-type"), "interactive");
    assert.equal(await page.textContent("#interactive-type"), "button");
    assert.equal(await page.textContent("#interactive-body"), "Confirm Friday 9:00?");
    assert.deepEqual(await page.locator("#interactive-options .chip").allTextContents(), ["Yes", "No <script>"]);
    await noPageScroll(page, `interactive detail at ${width}`);
    await page.screenshot({ path: join(shots, `40-detail-interactive-${width}.png`), fullPage: true });

    // Location: name, address, coordinates and a plain OpenStreetMap link.
    await openDetail(page, ids.location);
    assert.equal(await page.getAttribute("#message-content", "data-type"), "location");
    assert.equal(await page.textContent("#location-name"), "Brandenburg Gate");
    assert.equal(await page.textContent("#location-address"), "Pariser Platz, 10117 Berlin");
    assert.equal(await page.textContent("#location-coords"), "52.5163, 13.3777");
    const osm = new URL(await page.getAttribute("#location-map", "href"));
    assert.equal(osm.origin, "https://www.openstreetmap.org");
    assert.equal(osm.searchParams.get("mlat"), "52.5163");
    assert.equal(osm.searchParams.get("mlon"), "13.3777");
    assert.match(await page.getAttribute("#location-map", "rel"), /\bnoopener\b/);
    await noPageScroll(page, `location detail at ${width}`);
    await page.screenshot({ path: join(shots, `40-detail-location-${width}.png`), fullPage: true });

    // Reaction: the emoji and the message reacted to.
    await openDetail(page, ids.reaction);
    assert.equal(await page.textContent("#reaction-emoji"), "👍");
    assert.equal(await page.textContent("#reaction-target"), ids.wamid);
    assert.equal(await page.textContent("#reaction-codepoints"), "U+1F44D", "the code point, for fonts without the emoji");
    await noPageScroll(page, `reaction detail at ${width}`);
    await page.screenshot({ path: join(shots, `40-detail-reaction-${width}.png`), fullPage: true });

    // The table labels each type instead of an empty Content cell.
    await page.goto(`${env.base}/app#/messages`);
    await page.waitForSelector(`#messages-table tr[data-id="${ids.reaction}"]`);
    const cell = async (id) => (await page.textContent(`#messages-table tr[data-id="${id}"] td:nth-child(4)`)).trim();
    assert.equal(await cell(ids.image), "image Today's menu <b>fresh</b>");
    assert.equal(await cell(ids.interactive), "interactive Confirm Friday 9:00?");
    assert.equal(await cell(ids.location), "location Brandenburg Gate");
    assert.equal(await cell(ids.reaction), "reaction 👍");
    await noPageScroll(page, `messages at ${width}`);
    // Rows still open by keyboard.
    await page.focus(`#messages-table tr[data-id="${ids.location}"]`);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#location-coords");
    await page.goto(`${env.base}/app#/messages`);
    await page.waitForSelector(`#messages-table tr[data-id="${ids.reaction}"]`);
    await page.screenshot({ path: join(shots, `40-messages-types-${width}.png`), fullPage: true });

    assert.ok(!requests.some((u) => u.includes("cdn.example.com") || u.includes("openstreetmap")), `no request to the customer's URLs: ${requests.filter((u) => !u.startsWith(env.base))}`);
    await page.context().close();
  });
}

test("message detail by type in light and dark: the chips and links are legible", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const page = await signedInPage(env.browser, env.base, key, { colorScheme });
    await openDetail(page, ids.interactive);
    const [chip, bg] = await page.evaluate(() => [getComputedStyle(document.querySelector(".chip")).color, getComputedStyle(document.querySelector(".chip")).backgroundColor]);
    assert.notEqual(chip, bg, `${colorScheme}: chip text differs from its background`);
    await page.screenshot({ path: join(shots, `40-detail-interactive-${colorScheme}.png`), fullPage: true });
    await openDetail(page, ids.image);
    await page.screenshot({ path: join(shots, `40-detail-image-${colorScheme}.png`), fullPage: true });
    await page.context().close();
  }
});

test("a document shows its file name, a cta_url its button and the URL it opens, as new-tab links", async () => {
  const doc = await send({ document: { link: "https://example.com/invoice-1042.pdf", filename: "invoice-1042.pdf", caption: "Invoice #1042" } });
  const cta = await send({
    interactive: {
      type: "cta_url", body: { text: "Track your parcel" },
      action: { name: "cta_url", parameters: { display_text: "Track", url: "https://example.com/track?id=7&x=<y>" } },
    },
  });
  await waitStatus(doc);
  await waitStatus(cta);
  const page = await signedInPage(env.browser, env.base, key, { viewport: { width: 390, height: 844 } });
  await openDetail(page, doc);
  assert.equal(await page.textContent("#message-content .type-tag"), "document");
  assert.equal(await page.textContent("#media-filename"), "invoice-1042.pdf");
  assert.equal(await page.textContent("#media-caption"), "Invoice #1042");
  assert.equal(await page.getAttribute("#media-link", "href"), "https://example.com/invoice-1042.pdf");
  await noPageScroll(page, "document detail at 390");
  await page.screenshot({ path: join(shots, "40-detail-document-390.png"), fullPage: true });
  await openDetail(page, cta);
  assert.equal(await page.textContent("#interactive-type"), "cta_url");
  assert.deepEqual(await page.locator("#interactive-options .chip").allTextContents(), ["Track"]);
  assert.equal(await page.getAttribute("#interactive-url", "href"), "https://example.com/track?id=7&x=<y>");
  assert.equal(await page.getAttribute("#interactive-url", "target"), "_blank");
  assert.match(await page.getAttribute("#interactive-url", "rel"), /\bnoopener\b/);
  await noPageScroll(page, "cta_url detail at 390");
  await page.screenshot({ path: join(shots, "40-detail-cta-url-390.png"), fullPage: true });
  await page.context().close();
});

test("a message to a username shows its user id and the message it replies to", async () => {
  const USER = "US.13491208655302741918";
  const wrote = await call(env.base, key, "POST", "/sandbox/inbound", { from: USER, text: "Is my order ready?" });
  assert.ok(wrote.status < 300, JSON.stringify(wrote.json));
  const r = await call(env.base, key, "POST", "/send-message", {
    recipient: USER, message: "Yes, it is at the counter", context: { message_id: wrote.json.data.wamid },
  });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const m = await waitStatus(r.json.data.id);
  assert.equal(m.to, null);
  const page = await signedInPage(env.browser, env.base, key, { viewport: { width: 390, height: 844 } });
  await page.goto(`${env.base}/app#/messages/${m.id}`);
  await page.waitForSelector("#message-body");
  assert.equal(await page.textContent("#message-body"), "Yes, it is at the counter");
  assert.equal(await page.textContent("#recipient"), "—");
  assert.equal(await page.textContent("#recipient-user-id"), USER);
  assert.equal(await page.textContent("#reply-to"), wrote.json.data.wamid);
  await noPageScroll(page, "username detail at 390");
  await page.screenshot({ path: join(shots, "41-detail-username-reply-390.png"), fullPage: true });
  await page.goto(`${env.base}/app#/messages`);
  await page.waitForSelector(`#messages-table tr[data-id="${m.id}"]`);
  assert.equal((await page.textContent(`#messages-table tr[data-id="${m.id}"] td:nth-child(3)`)).trim(), USER);
  await page.context().close();
});
