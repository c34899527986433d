// whatsapi console: a small single-page app over the public API. No build step, no third-party code.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const STATUSES = ["queued", "scheduled", "processing", "retrying", "sent", "delivered", "read", "failed"];
const COLORS = { queued: "#60a5fa", scheduled: "#818cf8", processing: "#f59e0b", retrying: "#fb923c", sent: "#34d399", delivered: "#25d366", read: "#128c7e", failed: "#ef4444" };
const MOVING = ["queued", "processing", "retrying", "sent"]; // a scheduled message may wait for days: not polled
const state = { key: sessionStorage.getItem("whatsapi.key"), me: null, setup: null, poll: null, routeToken: 0, rate: null };

// The console spends the account's API budget like any client (free plan: 20 requests a minute), so it reads little:
// the account (/auth/me, /auth/me/setup) is kept for the tab's session and fetched again only after a change, and
// polling slows down to a share of the plan's rate. A 429 or 503 shows a notice and the request is sent again after
// `Retry-After`; only a 401 signs out.
class Stale extends Error {}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function noteRate(res) {
  const limit = Number(res.headers.get("x-ratelimit-limit"));
  if (!limit) return;
  state.rate = { limit, remaining: Number(res.headers.get("x-ratelimit-remaining")), reset: Number(res.headers.get("x-ratelimit-reset")) };
}

/// Milliseconds between two polls: at most a third of the plan's requests per minute, never under `floor`.
function pollDelay(floor = 3000) {
  const r = state.rate;
  if (!r) return Math.max(floor, 9000);
  if (r.remaining <= 3) return Math.max(floor, (r.reset * 1000 - Date.now()) + 500);
  return Math.max(floor, Math.ceil((60000 * 3) / r.limit));
}

function notice(text) { $("#notice").textContent = text; }

async function api(method, path, body, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (state.key) headers.Authorization = "Bearer " + state.key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      if (method !== "GET" || attempt >= 5) throw e;
      await waitOut(5, "The server cannot be reached", opts);
      continue;
    }
    noteRate(res);
    let json = null;
    try { json = await res.json(); } catch (_) { /* not JSON */ }
    // 429: refused before anything ran, so any request can be sent again; 503: only reads.
    if ((res.status === 429 || (res.status === 503 && method === "GET")) && attempt < 20) {
      const after = Math.min(Math.max(Number(res.headers.get("retry-after")) || 5, 1), 120);
      const why = res.status === 429 ? "The API rate limit of your plan is reached" : "The server is busy";
      await waitOut(after, why, opts);
      continue;
    }
    if (attempt > 0) notice("");
    if (!res.ok) {
      const details = (json && json.details || []).map((d) => `${d.field}: ${d.message}`).join("; ");
      const err = new Error((json && json.error || `HTTP ${res.status}`) + (details ? ` (${details})` : ""));
      err.status = res.status;
      throw err;
    }
    return json;
  }
}

/// Counts down `secs` in the notice; throws `Stale` when the navigation that asked has been replaced meanwhile.
async function waitOut(secs, why, opts) {
  for (let left = secs; left > 0; left--) {
    if (opts.token !== undefined && opts.token !== state.routeToken) { notice(""); throw new Stale(); }
    notice(`${why}: trying again in ${left} s. Your key is kept.`);
    await sleep(1000);
  }
  notice(`${why}: trying again…`);
}

function saveAccount() {
  sessionStorage.setItem("whatsapi.account", JSON.stringify({ key: state.key, me: state.me, setup: state.setup }));
}
function cachedAccount(key) {
  try {
    const c = JSON.parse(sessionStorage.getItem("whatsapi.account") || "null");
    return c && c.key === key && c.me && c.setup ? c : null;
  } catch (_) { return null; }
}
async function refreshMe(token) {
  state.me = (await api("GET", "/auth/me", undefined, { token })).data;
  saveAccount();
  $("#account-name").textContent = `${state.me.name} · ${state.me.plan}`;
  return state.me;
}

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ""), 4000);
}

/// A UUIDv7 starts with its timestamp, so ids of one day share their first characters: show the tail.
// The recipient as a person sees it: the phone number, else the business-scoped user id of a username user.
const recipientOf = (m) => m.to || m.recipientUserId || "—";

function shortId(id) {
  return `<code class="id" title="${esc(id)}">…${esc(String(id).slice(-8))}</code>`;
}

function badge(status) { return `<span class="badge ${esc(status)}" data-status="${esc(status)}">${esc(status)}</span>`; }
function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
function secretBox(value, warning, id = "secret-value") {
  return `<div class="secret"><code id="${esc(id)}">${esc(value)}</code><button class="secondary" data-copy="${esc(value)}">Copy</button></div>
          <div class="warning">${esc(warning)}</div>`;
}
document.addEventListener("click", async (e) => {
  const v = e.target.getAttribute && e.target.getAttribute("data-copy");
  if (v) {
    try { await navigator.clipboard.writeText(v); toast("Copied"); } catch (_) { toast("Select the text and copy it"); }
  }
});

// ---- sign in / register ----
function showAuth(tab = "signin", notice = "") {
  stopPolling();
  state.pollPending = null;
  $("#shell").hidden = true;
  const root = $("#auth");
  root.hidden = false;
  root.innerHTML = `
    <div class="brand centered"><span class="logo">◆</span> whatsapi console</div>
    <div class="card">
      <div class="tabs"><button id="tab-signin" class="${tab === "signin" ? "" : "secondary"}">Sign in</button>
        <button id="tab-register" class="${tab === "register" ? "" : "secondary"}">Register</button></div>
      ${notice ? `<p class="error">${esc(notice)}</p>` : ""}
      <div id="auth-body"></div>
    </div>`;
  $("#tab-signin").onclick = () => showAuth("signin");
  $("#tab-register").onclick = () => showAuth("register");
  const body = $("#auth-body");
  if (tab === "signin") {
    body.innerHTML = `<form id="signin-form"><label for="api-key">API key</label>
      <input id="api-key" autocomplete="off" placeholder="sk_live_…" required>
      <p class="muted">Your key stays in this browser tab only.</p><button type="submit">Sign in</button></form>`;
    $("#signin-form").onsubmit = async (e) => {
      e.preventDefault();
      await signIn($("#api-key").value.trim());
    };
  } else {
    body.innerHTML = `<form id="register-form"><label for="reg-name">Name or company</label><input id="reg-name" required>
      <label for="reg-email">Email</label><input id="reg-email" type="email" required>
      <p></p><button type="submit">Create account</button><p id="register-error" class="error"></p></form>`;
    $("#register-form").onsubmit = async (e) => {
      e.preventDefault();
      try {
        const r = await api("POST", "/auth/register", { name: $("#reg-name").value, email: $("#reg-email").value });
        const key = r.data.apiKey;
        body.innerHTML = `<h2>Your API key</h2>${secretBox(key, "This key is shown only once. Store it now (for example as WHATSAPI_KEY); it cannot be recovered.")}
          <p></p><button id="continue">I stored it — continue</button>`;
        $("#continue").onclick = () => signIn(key);
      } catch (err) { $("#register-error").textContent = err.message; }
    };
  }
}

async function signIn(key) {
  state.key = key;
  const cached = cachedAccount(key);
  if (cached) {
    state.me = cached.me;
    state.setup = cached.setup;
  } else {
    $("#auth").setAttribute("aria-busy", "true");
    try {
      state.me = (await api("GET", "/auth/me")).data;
      state.setup = (await api("GET", "/auth/me/setup")).data;
    } catch (err) {
      $("#auth").removeAttribute("aria-busy");
      if (err.status === 401) return signOut("That key is not valid.");
      // Anything else (a server that is down, an error page) keeps the key: it may well be valid.
      sessionStorage.setItem("whatsapi.key", key);
      return showAuth("signin", `Could not sign in: ${err.message}. Your key is kept; reload to try again.`);
    }
    $("#auth").removeAttribute("aria-busy");
  }
  sessionStorage.setItem("whatsapi.key", key);
  saveAccount();
  $("#auth").hidden = true;
  $("#shell").hidden = false;
  $("#account-name").textContent = `${state.me.name} · ${state.me.plan}`;
  $("#sandbox-banner").hidden = !state.setup.sandbox;
  if (!location.hash || location.hash === "#/") {
    location.hash = state.me.messagesSent > 0 ? "#/messages" : "#/setup";
    return; // the hashchange routes, once
  }
  route();
}

/// Forgets the key (only a 401 or the user's own choice gets here) and shows the sign-in form.
function signOut(notice = "") {
  state.key = null;
  state.me = state.setup = null;
  sessionStorage.removeItem("whatsapi.key");
  sessionStorage.removeItem("whatsapi.account");
  showAuth("signin", notice);
}

$("#sign-out").onclick = () => {
  history.replaceState(null, "", location.pathname);
  signOut();
  window.scrollTo(0, 0);
};

$("#skip-link").onclick = (e) => {
  e.preventDefault(); // the hash routes pages: move focus without touching it
  const target = $("#shell").hidden ? $("#auth") : $("#main");
  target.focus();
  target.scrollIntoView({ block: "start" });
};

// ---- sandbox: simulate the customer writing in (opens Meta's 24-hour window for free-form text) ----
$("#inbound-form").onsubmit = async (e) => {
  e.preventDefault();
  const button = e.target.querySelector("button");
  button.disabled = true;
  try {
    const d = (await api("POST", "/sandbox/inbound", { from: $("#inbound-from").value.trim(), text: $("#inbound-text").value })).data;
    toast(`${d.from} wrote in: window open until ${when(d.windowOpenUntil)}`);
  } catch (err) {
    if (err.status === 401) return signOut("Your session ended: the key is no longer valid.");
    toast(err.message);
  } finally { button.disabled = false; }
};

$("#menu-toggle").onclick = () => {
  const open = !$("#nav-links").classList.contains("open");
  $("#nav-links").classList.toggle("open", open);
  $("#menu-toggle").setAttribute("aria-expanded", String(open));
};

// ---- router ----
function stopPolling() { if (state.poll) { clearTimeout(state.poll); state.poll = null; } }
/// Runs `fn` after `ms`, as the one poll of the current page, while the tab is visible (see `visibilitychange`).
function schedulePoll(fn, ms) {
  stopPolling();
  state.pollFn = fn;
  state.poll = setTimeout(() => {
    state.poll = null;
    if (document.hidden) { state.pollPending = fn; return; }
    fn();
  }, ms);
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.pollPending) {
    const fn = state.pollPending;
    state.pollPending = null;
    fn();
  }
});

async function route() {
  if (!state.key) return showAuth();
  stopPolling();
  state.pollPending = null;
  const token = ++state.routeToken;
  const [, page, arg] = location.hash.split("?")[0].split("/");
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === page));
  $("#nav-links").classList.remove("open");
  $("#menu-toggle").setAttribute("aria-expanded", "false");
  const view = $("#view");
  view.onclick = null; // a page's delegated clicks end with it
  try {
    if (page === "messages" && arg) return await messageDetail(view, arg, token);
    if (page === "inbox") return await inboxPage(view, arg ? decodeURIComponent(arg) : null, token);
    const pages = { setup: guidedSetup, messages: messagesPage, campaigns: campaignsPage, templates: templatesPage, analytics: analyticsPage, webhooks: webhooksPage, settings: settingsPage };
    await (pages[page] || guidedSetup)(view, token);
  } catch (err) {
    if (err instanceof Stale) return;
    if (err.status === 401) return signOut("Your session ended: the key is no longer valid.");
    if (token !== state.routeToken) return; // a newer navigation owns the view
    view.innerHTML = `<div class="card error">${esc(err.message)}</div>`;
  }
}
window.addEventListener("hashchange", route);

// ---- guided setup ----
async function guidedSetup(view, token) {
  const me = state.me, setup = state.setup;
  const credsDone = me.byocConfigured;
  const verified = me.credentialsVerified;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Guided setup</h1>
    <div class="steps">
      <div class="step ${credsDone ? "done" : "current"}" id="step-credentials"><h3>1. Meta credentials</h3>
        ${setup.sandbox ? `<p>Sandbox mode: this account already has emulator credentials (phone number id <code>${esc(me.whatsappPhoneNumberId)}</code>).</p>` : ""}
        <form id="creds-form">
          <div class="row"><div><label for="access-token">Access token</label><input id="access-token" placeholder="EAAc…" ${setup.sandbox ? "" : "required"}></div>
          <div><label for="phone-id">Phone number id</label><input id="phone-id" placeholder="1234567890" value="${esc(me.whatsappPhoneNumberId || "")}" ${setup.sandbox ? "" : "required"}></div></div>
          <label for="app-secret">App secret (checks the signature of Meta's webhooks)</label><input id="app-secret" placeholder="optional">
          <label for="waba-id">WhatsApp Business Account id (lists your templates)</label><input id="waba-id" inputmode="numeric" placeholder="optional, e.g. 102290129340398" value="${esc(me.whatsappBusinessAccountId || "")}">
          <p></p><button type="submit" class="${credsDone ? "secondary" : ""}">${credsDone ? "Replace credentials" : "Save credentials"}</button>
        </form>
        <p class="muted">In Meta's console (WhatsApp → Configuration → Webhook), set the callback URL to
          <code>${esc(setup.callbackUrl)}</code> and the verify token to
          <code>${esc(setup.verifyToken || "(ask your operator to set --meta-verify-token)")}</code>, and subscribe to <code>messages</code>.</p>
      </div>
      <div class="step ${verified ? "done" : credsDone ? "current" : ""}" id="step-verify"><h3>2. Verify with Meta</h3>
        <button id="verify" ${credsDone ? "" : "disabled"}>Verify credentials</button> <span id="verify-result">${verified ? "✓ verified" : ""}</span></div>
      <div class="step ${verified ? "current" : ""}" id="step-send"><h3>3. Send your first message</h3>
        <form id="first-form" class="row"><div><label for="first-to">Your WhatsApp number (E.164 digits, e.g. 14155552671)</label><input id="first-to" required></div>
        <button type="submit" ${credsDone ? "" : "disabled"}>Send hello_world</button></form></div>
      <div class="step" id="step-watch"><h3>4. Watch it arrive</h3><div id="watch" class="muted">The status appears here once sent.</div></div>
    </div>`;
  $("#creds-form").onsubmit = async (e) => {
    e.preventDefault();
    const body = { whatsappAccessToken: $("#access-token").value.trim(), whatsappPhoneNumberId: $("#phone-id").value.trim() };
    if ($("#app-secret").value.trim()) body.whatsappAppSecret = $("#app-secret").value.trim();
    if ($("#waba-id").value.trim()) body.whatsappBusinessAccountId = $("#waba-id").value.trim();
    try { await api("PUT", "/auth/me/credentials", body); toast("Credentials saved"); await refreshMe(); route(); } catch (err) { toast(err.message); }
  };
  $("#verify").onclick = async () => {
    const out = $("#verify-result");
    out.textContent = "checking…";
    try {
      const r = (await api("POST", "/auth/me/credentials/verify")).data;
      out.innerHTML = r.valid ? `✓ ${esc(r.verifiedName)} (${esc(r.displayPhoneNumber)})` : `<span class="error">✗ ${esc(r.error)}</span>`;
      if (r.valid) {
        $("#step-verify").className = "step done"; $("#step-send").className = "step current";
        state.me.credentialsVerified = true;
        saveAccount();
      }
    } catch (err) { out.innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
  $("#first-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/send-message", { to: $("#first-to").value.trim(), template: { name: "hello_world", language: "en_US" } });
      $("#step-send").className = "step done";
      $("#step-watch").className = "step current";
      state.me.messagesSent += 1;
      saveAccount();
      watch(r.data.id, token);
    } catch (err) { toast(err.message); }
  };
}

function watch(id, token) {
  const out = $("#watch");
  const tick = async () => {
    let m;
    try { m = (await api("GET", `/messages/${id}`, undefined, { token })).data; } catch (err) {
      if (!(err instanceof Stale)) out.textContent = err.message;
      return;
    }
    if (token !== state.routeToken) return;
    const reached = new Set(m.timeline.map((t) => t.status));
    out.innerHTML = `<p>Message <a href="#/messages/${esc(id)}"><code class="full-id">${esc(id)}</code></a> is ${badge(m.status)}</p>
      <div>${["queued", "sent", "delivered", "read"].map((s) => `<span class="badge ${reached.has(s) ? s : ""}">${reached.has(s) ? "✓" : "·"} ${s}</span>`).join(" ")}</div>
      ${m.errorMessage ? `<p class="error">${esc(m.errorMessage)}</p>` : ""}`;
    if (["delivered", "read", "failed"].includes(m.status)) {
      if (m.status !== "failed") { $("#step-watch").className = "step done"; out.insertAdjacentHTML("beforeend", `<p id="first-delivered">✓ Delivered. You are integrated.</p>`); }
    } else {
      schedulePoll(tick, pollDelay(2000));
    }
  };
  stopPolling();
  tick();
}

// ---- inbox ----
const contactName = (c) => c.profileName || c.phone || c.userId || c.id;
/// "5 h 12 min left" until an RFC 3339 time.
function timeLeft(t) {
  const ms = new Date(t).getTime() - Date.now();
  if (!(ms > 0)) return "closing";
  const h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000);
  return h ? `${h} h ${m} min left` : `${Math.max(m, 1)} min left`;
}
function windowBadge(c) {
  return c.windowOpen
    ? `<span class="badge window-open" title="Free-form replies until ${esc(when(c.windowExpiresAt))}">window open · ${esc(timeLeft(c.windowExpiresAt))}</span>`
    : '<span class="badge window-closed">window closed</span>';
}
const optOutBadge = (c) => (c.optedOut ? '<span class="badge failed opted-out">opted out</span>' : "");
const inboxHref = (id) => `#/inbox/${encodeURIComponent(id)}`;

function contactItems(list, selected) {
  return list.map((c) => `<li><a class="convo${c.id === selected ? " active" : ""}" href="${esc(inboxHref(c.id))}" data-id="${esc(c.id)}"${c.id === selected ? ' aria-current="true"' : ""}>
      <span class="convo-name">${esc(contactName(c))}</span>
      ${contactName(c) !== (c.phone || c.userId) ? `<span class="convo-sub mono">${esc(c.phone || c.userId || "")}</span>` : ""}
      <span class="convo-meta"><span class="muted">${esc(when(c.lastMessageAt || c.lastInboundAt))}</span> ${windowBadge(c)} ${optOutBadge(c)}</span></a></li>`).join("")
    || '<li class="muted" id="no-conversations">No conversations yet. They start when a customer writes to your number.</li>';
}

/// The account's business numbers (GET /numbers), read with the inbox; none when they cannot be read.
async function loadNumbers(token) {
  try { state.numbers = (await api("GET", "/numbers", undefined, { token })).data || []; } catch (err) {
    if (err instanceof Stale) throw err;
    state.numbers = [];
  }
}
/// A business number as the console shows it: Meta's display number, else its id (null: the default number).
function numberLabel(id) {
  const n = (state.numbers || []).find((x) => (id ? x.phoneNumberId === id : x.isDefault));
  return n ? n.displayPhoneNumber || n.phoneNumberId : id || "default number";
}
/// A reply goes out on the number the customer last wrote to, when that is one of the extra numbers.
function replyFrom(c) {
  const last = (c.thread || []).find((m) => m.direction === "inbound" && m.businessNumber);
  const n = last && (state.numbers || []).find((x) => x.phoneNumberId === last.businessNumber);
  return n && !n.isDefault ? { from: n.phoneNumberId } : {};
}
const manyNumbers = () => (state.numbers || []).length > 1;

function bubbles(thread) {
  const items = [...(thread || [])].reverse(); // the API lists newest first; a chat reads oldest first
  const many = manyNumbers();
  return items.map((m) => {
    const out = m.direction === "outbound";
    const text = m.revokedAt ? '<span class="type-tag revoked">This message was deleted</span>'
      : m.text != null && m.text !== "" ? esc(m.text) : `<span class="type-tag">${esc(m.type || "message")}</span>`;
    const changed = m.revokedAt ? ` · <span class="edited" title="deleted ${esc(when(m.revokedAt))}">deleted</span>` : m.editedAt ? ` · <span class="edited" title="edited ${esc(when(m.editedAt))}">edited</span>` : "";
    const link = out && m.id ? ` · <a href="#/messages/${esc(m.id)}">details</a>` : "";
    // With several numbers, which one the customer wrote to (or a reply went out on).
    const number = many && (out || m.businessNumber) ? ` · <span class="bubble-number mono" title="${out ? "Sent from" : "Sent to"} your business number">${out ? "from" : "to"} ${esc(numberLabel(m.businessNumber))}</span>` : "";
    return `<li class="bubble ${out ? "out" : "in"}" data-direction="${out ? "outbound" : "inbound"}" data-id="${esc(m.id)}"${m.businessNumber ? ` data-number="${esc(m.businessNumber)}"` : ""}><span class="sr-only">${out ? "You" : "Customer"}: </span><div class="bubble-text">${text}</div><div class="bubble-meta"><span>${esc(when(m.at))}${changed}${number}</span>${out && m.status ? ` ${badge(m.status)}` : ""}${link}</div></li>`;
  }).join("") || '<li class="muted">No messages yet.</li>';
}

/// The parameters a template send needs: header and body placeholders, URL and OTP buttons.
function templateInputs(t) {
  const inputs = [];
  for (const c of t.components || []) {
    if ((c.type === "HEADER" || c.type === "BODY") && (c.placeholders || []).length) {
      c.placeholders.forEach((ph) => inputs.push({ kind: c.type.toLowerCase(), ph, label: `${c.type === "HEADER" ? "Header" : "Body"} {{${ph}}}` }));
    }
    if (c.type === "BUTTONS") {
      (c.buttons || []).forEach((b, index) => {
        if ((b.type === "URL" && /\{\{/.test(b.url || "")) || b.type === "OTP" || b.type === "COPY_CODE") {
          inputs.push({ kind: "button", index, subType: b.type === "URL" ? "url" : b.type === "COPY_CODE" ? "copy_code" : "url", label: `Button ${index + 1} (${String(b.text || b.type)})` });
        }
      });
    }
  }
  return inputs;
}
function templateComponents(t, values) {
  const comps = [];
  const byKind = (k) => templateInputs(t).map((inp, i) => ({ inp, v: values[i] })).filter((x) => x.inp.kind === k);
  for (const k of ["header", "body"]) {
    const xs = byKind(k);
    if (xs.length) comps.push({ type: k, parameters: xs.map(({ inp, v }) => (t.parameterFormat === "NAMED" ? { type: "text", parameter_name: inp.ph, text: v } : { type: "text", text: v })) });
  }
  for (const { inp, v } of byKind("button")) {
    comps.push({ type: "button", sub_type: inp.subType, index: inp.index, parameters: [inp.subType === "copy_code" ? { type: "coupon_code", coupon_code: v } : { type: "text", text: v }] });
  }
  return comps;
}

async function inboxPage(view, selected, token) {
  const list = await api("GET", "/contacts?limit=50", undefined, { token });
  await loadNumbers(token);
  let contact = null, missing = "";
  if (selected) {
    try { contact = (await api("GET", `/contacts/${encodeURIComponent(selected)}?limit=50`, undefined, { token })).data; } catch (err) {
      if (err.status !== 404) throw err;
      missing = err.message;
    }
  }
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Inbox</h1>
    <div class="inbox${contact ? " has-thread" : ""}">
      <nav class="card convo-list" aria-label="Conversations"><ul id="conversations">${contactItems(list.data, selected)}</ul></nav>
      <section class="card thread-pane" id="thread-pane" aria-label="Conversation">${contact ? "" : missing ? `<p class="error" id="no-thread">${esc(missing)}</p>` : '<p class="muted" id="no-thread">Choose a conversation to read it and reply.</p>'}</section>
    </div><p class="sr-only" id="inbox-live" aria-live="polite"></p>`;
  if (!contact) {
    schedulePoll(() => pollInbox(view, null, token, null), pollDelay(5000));
    return;
  }
  renderThread(contact, token);
  $("#thread-name").focus({ preventScroll: true }); // the chosen conversation's link is gone: its thread takes the focus
  schedulePoll(() => pollInbox(view, selected, token, contact), pollDelay(5000));
}

function renderThread(c, token) {
  const pane = $("#thread-pane");
  pane.innerHTML = `<p class="back"><a href="#/inbox">← Conversations</a></p>
    <div class="thread-head"><div><h2 id="thread-name" tabindex="-1">${esc(contactName(c))}</h2>
        <div class="muted">${c.phone && c.phone !== contactName(c) ? `<span class="mono" id="thread-phone">${esc(c.phone)}</span>` : ""}${c.userId && c.userId !== contactName(c) ? ` <code class="full-id" id="thread-user-id">${esc(c.userId)}</code>` : ""}</div></div>
      <div class="thread-state" id="thread-state">${windowBadge(c)} ${optOutBadge(c)}</div></div>
    <label class="check opt-out"><input type="checkbox" id="opt-out" ${c.optedOut ? "checked" : ""}> <span>Opted out of marketing${c.optedOutAt ? ` <span class="muted">(since ${esc(when(c.optedOutAt))}${c.optOutSource ? `, ${esc(c.optOutSource)}` : ""})</span>` : ""}</span></label>
    <ol class="thread" id="thread" aria-label="Messages, oldest first">${bubbles(c.thread)}</ol>
    <div id="reply"></div>`;
  $("#thread").dataset.key = JSON.stringify(c.thread);
  scrollThread();
  $("#opt-out").onchange = async (e) => {
    const want = e.target.checked;
    e.target.disabled = true;
    try {
      const d = (await api("PUT", `/contacts/${encodeURIComponent(c.id)}/opt-out`, { optedOut: want })).data;
      Object.assign(c, d);
      $("#thread-state").innerHTML = `${windowBadge(c)} ${optOutBadge(c)}`;
      toast(want ? "Marked as opted out: marketing templates to this contact are refused" : "Opted back in");
    } catch (err) { e.target.checked = !want; toast(err.message); } finally { e.target.disabled = false; }
  };
  renderReply(c, token);
}

function scrollThread() { const t = $("#thread"); if (t) t.scrollTop = t.scrollHeight; }
const recipientBody = (c) => (c.phone ? { to: c.phone } : { recipient: c.userId });

function renderReply(c, token) {
  const box = $("#reply");
  box.dataset.window = c.windowOpen ? "open" : "closed";
  if (c.windowOpen) {
    const from = manyNumbers() ? ` from <span class="mono" id="reply-number">${esc(numberLabel(replyFrom(c).from))}</span>` : "";
    box.innerHTML = `<form id="reply-form" class="reply"><label for="reply-text">Reply${from} <span class="muted">(free-form text, ${esc(timeLeft(c.windowExpiresAt))} in the 24-hour window)</span></label>
      <div class="row"><textarea id="reply-text" rows="2" maxlength="4096" required></textarea><button type="submit">Send</button></div></form>`;
    $("#reply-text").onkeydown = (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $("#reply-form").requestSubmit(); } };
    $("#reply-form").onsubmit = async (e) => {
      e.preventDefault();
      const button = e.target.querySelector("button");
      button.disabled = true;
      try {
        await api("POST", "/send-message", { ...recipientBody(c), ...replyFrom(c), message: $("#reply-text").value });
        $("#reply-text").value = "";
        $("#inbox-live").textContent = "Reply sent";
        await refreshThread(c.id, token);
        $("#reply-text") && $("#reply-text").focus();
      } catch (err) { if (!(err instanceof Stale)) toast(err.message); } finally { button.disabled = false; }
    };
    return;
  }
  box.innerHTML = `<div class="reply closed"><p id="window-closed">The 24-hour window is closed${c.lastInboundAt ? ` (the customer last wrote ${esc(when(c.lastInboundAt))})` : ""}: WhatsApp allows only an approved template until the customer writes again.</p>
    <form id="template-form"><label for="template-pick">Template</label><select id="template-pick" disabled><option>Loading templates…</option></select>
      <div id="template-params"></div><p></p><button type="submit" disabled>Send template</button></form></div>`;
  loadTemplatePicker(c, token);
}

async function loadTemplatePicker(c, token) {
  let templates;
  try {
    templates = ((await api("GET", "/templates", undefined, { token })).data.templates || []).filter((t) => t.status === "APPROVED");
  } catch (err) {
    if (err instanceof Stale || token !== state.routeToken) return;
    $("#template-form").innerHTML = `<p class="error" id="template-error">${esc(err.message)}</p><p class="muted">See <a href="#/templates">Templates</a>.</p>`;
    return;
  }
  if (token !== state.routeToken || !$("#template-pick")) return;
  const pick = $("#template-pick");
  if (!templates.length) { $("#template-form").innerHTML = '<p class="muted" id="template-error">No approved templates. See <a href="#/templates">Templates</a>.</p>'; return; }
  pick.innerHTML = templates.map((t, i) => `<option value="${i}">${esc(t.name)} (${esc(t.language)}, ${esc(String(t.category || "").toLowerCase())})</option>`).join("");
  pick.disabled = false;
  const submit = $("#template-form button[type=submit]");
  submit.disabled = false;
  const showParams = () => {
    const t = templates[Number(pick.value)];
    const body = (t.components || []).find((x) => x.type === "BODY");
    $("#template-params").innerHTML = (body && body.text ? `<p class="muted tpl-preview">${withPlaceholders(body.text)}</p>` : "")
      + templateInputs(t).map((inp, i) => `<label for="tpl-param-${i}">${esc(inp.label)}</label><input id="tpl-param-${i}" data-param="${i}" required>`).join("");
  };
  pick.onchange = showParams;
  showParams();
  $("#template-form").onsubmit = async (e) => {
    e.preventDefault();
    const t = templates[Number(pick.value)];
    const values = [...document.querySelectorAll("#template-params [data-param]")].map((x) => x.value);
    const template = { name: t.name, language: t.language };
    const components = templateComponents(t, values);
    if (components.length) template.components = components;
    submit.disabled = true;
    try {
      await api("POST", "/send-message", { ...recipientBody(c), ...replyFrom(c), template });
      $("#inbox-live").textContent = `Template ${t.name} sent`;
      toast(`Template ${t.name} sent`);
      await refreshThread(c.id, token);
    } catch (err) { if (!(err instanceof Stale)) toast(err.message); } finally { if ($("#template-form button[type=submit]")) $("#template-form button[type=submit]").disabled = false; }
  };
}

/// Reads the contact again; redraws the bubbles and state (never the reply box's text) when they changed.
async function refreshThread(id, token, previous) {
  const c = (await api("GET", `/contacts/${encodeURIComponent(id)}?limit=50`, undefined, { token })).data;
  if (token !== state.routeToken || !$("#thread")) return c;
  const thread = $("#thread");
  const key = JSON.stringify(c.thread);
  if (thread.dataset.key !== key) {
    const before = thread.dataset.key ? JSON.parse(thread.dataset.key) : null;
    thread.innerHTML = bubbles(c.thread);
    thread.dataset.key = key;
    scrollThread();
    const newest = (c.thread || [])[0];
    if (before && newest && newest.direction === "inbound" && !before.some((m) => m.id === newest.id)) {
      $("#inbox-live").textContent = `New message from ${contactName(c)}`;
    }
  }
  $("#thread-state").innerHTML = `${windowBadge(c)} ${optOutBadge(c)}`;
  const was = $("#reply").dataset.window;
  if ((c.windowOpen ? "open" : "closed") !== was) renderReply(c, token);
  else if (previous) Object.assign(previous, c);
  if ($("#reply-number")) $("#reply-number").textContent = numberLabel(replyFrom(c).from);
  return c;
}

async function pollInbox(view, selected, token, contact) {
  try {
    const list = await api("GET", "/contacts?limit=50", undefined, { token });
    if (token !== state.routeToken) return;
    const ul = $("#conversations");
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#conversations a");
    const focusId = focused && focused.dataset.id;
    const html = contactItems(list.data, selected);
    if (ul.dataset.html !== html) {
      ul.innerHTML = html;
      ul.dataset.html = html;
      if (focusId) { const a = ul.querySelector(`a[data-id="${CSS.escape(focusId)}"]`); if (a) a.focus(); }
    }
    if (selected) await refreshThread(selected, token, contact);
    view.dataset.polls = String(Number(view.dataset.polls || 0) + 1);
  } catch (err) {
    if (err instanceof Stale || token !== state.routeToken) return;
    $("#inbox-live").textContent = err.message;
  }
  if (token === state.routeToken) schedulePoll(() => pollInbox(view, selected, token, contact), pollDelay(5000));
}

// ---- messages ----
const MEDIA = ["image", "video", "audio", "document", "sticker"];
const clip = (s, n = 60) => { const t = String(s ?? ""); return t.length > n ? t.slice(0, n - 1) + "…" : t; };
/// Only http(s) links become links: anything else (javascript:, data:) is shown as text.
const safeUrl = (u) => /^https?:\/\//i.test(String(u ?? ""));
/// A link that opens in a new tab and is never fetched by the console itself (no <img>, no preview).
function extLink(url, text, id = "") {
  if (!safeUrl(url)) return `<code class="full-id"${id ? ` id="${id}"` : ""}>${esc(url)}</code>`;
  return `<a class="ext" href="${esc(url)}" target="_blank" rel="noopener noreferrer"${id ? ` id="${id}"` : ""}>${esc(text ?? url)}</a>`;
}
/// "U+1F44D": names an emoji even where the operator's fonts cannot draw it.
const codePoints = (s) => Array.from(String(s ?? "")).map((ch) => "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")).join(" ");
function typeTag(kind) { return `<span class="type-tag" data-type="${esc(kind)}">${esc(kind)}</span>`; }

/// The messages table's Content cell: the text, the template, or a short label of the type.
function contentSummary(m) {
  const kind = m.type || (m.template ? "template" : "text");
  if (kind === "text") return esc(clip(m.body));
  if (kind === "template" && m.template) return `template <code>${esc(m.template.name)}</code>`;
  const c = m.content || {};
  let rest = "";
  if (MEDIA.includes(kind)) rest = m.caption || (m.media && m.media.filename) || "";
  else if (kind === "interactive" && m.interactive) rest = m.interactive.body;
  else if (kind === "location") rest = c.name || (c.latitude !== undefined ? `${c.latitude}, ${c.longitude}` : "");
  else if (kind === "contacts") rest = (m.contactNames || []).join(", ");
  else if (kind === "reaction") rest = c.emoji || "(removed)";
  return `${typeTag(kind)}${rest ? " " + esc(clip(rest, 50)) : ""}`;
}

/// The message detail's content block, by type.
function contentDetail(m) {
  const kind = m.type || (m.template ? "template" : "text");
  const c = m.content || {};
  const field = (label, html, cls = "") => `<div class="field${cls ? " " + cls : ""}"><div class="muted">${esc(label)}</div><div>${html}</div></div>`;
  if (kind === "text") return `<p id="message-body">${esc(m.body)}</p>`;
  if (kind === "template" && m.template) return `<p id="message-body">Template <code>${esc(m.template.name)}</code> (${esc(m.template.language)})</p>`;
  let inner = "";
  if (MEDIA.includes(kind)) {
    const md = m.media || {};
    inner = field("Media", md.link ? extLink(md.link, md.link, "media-link") : md.id ? `media id <code class="full-id" id="media-id">${esc(md.id)}</code>` : "—");
    if (md.filename) inner += field("File name", `<code class="full-id" id="media-filename">${esc(md.filename)}</code>`);
    if (m.caption) inner += field("Caption", `<span id="media-caption">${esc(m.caption)}</span>`);
  } else if (kind === "interactive" && m.interactive) {
    const i = m.interactive;
    inner = field("Kind", `<code id="interactive-type">${esc(i.type)}</code>`)
      + field("Body", `<span id="interactive-body">${esc(i.body)}</span>`)
      + field(i.type === "cta_url" ? "Button" : i.type === "list" ? "Rows" : "Buttons",
        `<ul class="chips" id="interactive-options">${(i.options || []).map((o) => `<li class="chip">${esc(o)}</li>`).join("") || '<li class="muted">none</li>'}</ul>`);
    if (i.url) inner += field("Opens", extLink(i.url, i.url, "interactive-url"));
  } else if (kind === "location") {
    const lat = Number(c.latitude), lon = Number(c.longitude);
    const place = [c.name, c.address].filter(Boolean);
    if (place.length) inner += field("Place", place.map((x, n) => `<div id="location-${n === 0 && c.name ? "name" : "address"}">${esc(x)}</div>`).join(""));
    const coords = `${esc(c.latitude)}, ${esc(c.longitude)}`;
    inner += field("Coordinates", Number.isFinite(lat) && Number.isFinite(lon)
      ? `<span id="location-coords" class="mono">${coords}</span> · ${extLink(`https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`, "OpenStreetMap", "location-map")}`
      : `<span id="location-coords" class="mono">${coords}</span>`);
  } else if (kind === "contacts") {
    const cards = Array.isArray(m.content) ? m.content : [];
    inner = field(cards.length === 1 ? "Contact" : `Contacts (${cards.length})`,
      `<ul class="contacts" id="contacts-list">${cards.map((card, n) => {
        const name = (card && card.name && card.name.formatted_name) || (m.contactNames || [])[n] || "—";
        const phones = ((card && card.phones) || []).filter((p) => p && p.phone)
          .map((p) => `<span class="mono contact-phone">${esc(p.phone)}</span>${p.type ? ` <span class="muted">${esc(p.type)}</span>` : ""}`);
        return `<li class="contact" id="contact-${n}"><div class="contact-name">${esc(name)}</div>${phones.length ? `<div class="contact-phones">${phones.join(" · ")}</div>` : ""}</li>`;
      }).join("") || '<li class="muted">none</li>'}</ul>`);
  } else if (kind === "reaction") {
    inner = field("Emoji", c.emoji ? `<span class="emoji" id="reaction-emoji">${esc(c.emoji)}</span> <code class="muted" id="reaction-codepoints">${esc(codePoints(c.emoji))}</code>` : `<span id="reaction-emoji" class="muted">(reaction removed)</span>`)
      + field("Reacts to", `<code class="full-id" id="reaction-target">${esc(c.message_id || "—")}</code>`);
  } else {
    inner = field("Content", `<code class="full-id">${esc(JSON.stringify(c))}</code>`);
  }
  return `<div class="content-block" id="message-content" data-type="${esc(kind)}"><div class="content-head">${typeTag(kind)}</div><div class="grid content-grid">${inner}</div></div>`;
}

function messageRows(list) {
  return list.map((m) => `<tr class="click" tabindex="0" data-id="${esc(m.id)}" aria-label="Message ${esc(m.id.slice(-8))} to ${esc(recipientOf(m))}, ${esc(m.status)}">
      <td>${shortId(m.id)}</td><td class="nowrap">${when(m.createdAt)}</td><td class="mono">${esc(recipientOf(m))}</td>
      <td class="wrap">${contentSummary(m)}</td><td>${badge(m.status)}</td>
      <td class="error wrap">${esc((m.errorMessage || "").slice(0, 60))}</td></tr>`).join("") || `<tr><td colspan="6" class="muted">No messages.</td></tr>`;
}

function bindRows(root) {
  root.querySelectorAll("tr[data-id]").forEach((tr) => {
    const open = () => (location.hash = `#/messages/${tr.dataset.id}`);
    tr.onclick = open;
    tr.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } };
  });
}

async function messagesPage(view, token) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = params.get("status") || "", batchId = params.get("batchId") || "", page = Number(params.get("page") || 1);
  const q = new URLSearchParams({ page, limit: 20 });
  if (status) q.set("status", status);
  if (batchId) q.set("batchId", batchId);
  const r = await api("GET", "/messages?" + q, undefined, { token });
  const p = r.pagination;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Messages</h1>
    <div class="card"><form id="filters" class="row">
      <div><label for="f-status">Status</label><select id="f-status"><option value="">any</option>${STATUSES.map((s) => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select></div>
      <div><label for="f-batch">Batch id</label><input id="f-batch" value="${esc(batchId)}" placeholder="from a bulk send"></div>
      <button type="submit">Filter</button></form></div>
    <div class="card"><div class="table-wrap"><table id="messages-table"><thead><tr><th>Id</th><th>Created</th><th>To</th><th>Content</th><th>Status</th><th>Error</th></tr></thead><tbody>
      ${messageRows(r.data)}
    </tbody></table></div>
    <div class="pager"><button class="secondary" id="prev" ${page <= 1 ? "disabled" : ""}>Previous</button>
      <span class="muted" id="pager-text">Page ${p.page} of ${Math.max(p.totalPages, 1)} · ${p.total} messages</span>
      <button class="secondary" id="next" ${page >= p.totalPages ? "disabled" : ""}>Next</button></div>
    <p class="muted" id="live-state"></p></div>`;
  const go = (n) => {
    const qs = new URLSearchParams();
    if ($("#f-status").value) qs.set("status", $("#f-status").value);
    if ($("#f-batch").value.trim()) qs.set("batchId", $("#f-batch").value.trim());
    if (n > 1) qs.set("page", n);
    location.hash = "#/messages" + (qs.toString() ? "?" + qs : "");
  };
  $("#filters").onsubmit = (e) => { e.preventDefault(); go(1); };
  $("#prev").onclick = () => go(page - 1);
  $("#next").onclick = () => go(page + 1);
  bindRows(view);

  // While a listed message is still moving, refresh the rows (not the filters, nor the focus) now and then.
  const refresh = async (list) => {
    const moving = list.some((m) => MOVING.includes(m.status));
    $("#live-state").textContent = moving ? "Refreshing while messages are on their way." : "";
    view.dataset.polling = moving ? "on" : "off";
    if (!moving) return;
    schedulePoll(async () => {
      let next;
      try { next = await api("GET", "/messages?" + q, undefined, { token }); } catch (err) {
        if (!(err instanceof Stale) && token === state.routeToken) $("#live-state").textContent = err.message;
        return;
      }
      if (token !== state.routeToken) return;
      const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.id;
      const tbody = $("#messages-table tbody");
      tbody.innerHTML = messageRows(next.data);
      bindRows(tbody);
      if (focused) { const tr = tbody.querySelector(`tr[data-id="${CSS.escape(focused)}"]`); if (tr) tr.focus(); }
      const np = next.pagination;
      $("#pager-text").textContent = `Page ${np.page} of ${Math.max(np.totalPages, 1)} · ${np.total} messages`;
      view.dataset.refreshes = String(Number(view.dataset.refreshes || 0) + 1);
      refresh(next.data);
    }, pollDelay());
  };
  refresh(r.data);
}

// ---- campaigns ----
// Each campaign with its progress (settled of recipients) and live counts; pause, resume and cancel where its state
// allows. Polled only while one is running (a scheduled one may wait for its window for hours).
const CAMPAIGN_ACTIONS = { scheduled: ["pause", "cancel"], running: ["pause", "cancel"], paused: ["resume", "cancel"], completed: [], cancelled: [] };

function campaignItem(c) {
  const counts = STATUSES.filter((s) => c.counts[s]).map((s) => `${badge(s)} ${c.counts[s]}`).join(" ");
  const actions = (CAMPAIGN_ACTIONS[c.state] || []).map((a) =>
    `<button class="${a === "cancel" ? "danger" : "secondary"}" data-action="${a}" data-id="${esc(c.id)}">${a[0].toUpperCase() + a.slice(1)}</button>`).join(" ");
  return `<div class="card campaign" data-id="${esc(c.id)}" data-state="${esc(c.state)}">
    <h2>${esc(c.name)} <span class="badge ${esc(c.state)}" data-campaign-state="${esc(c.state)}">${esc(c.state)}</span></h2>
    <div class="muted">${esc(c.type)}${c.template ? " · " + esc(c.template) : ""} · ${c.recipients} recipients · starts ${when(c.startAt)}${c.sendWindow ? ` · window ${esc(c.sendWindow.from)}–${esc(c.sendWindow.to)} local` : ""}${c.ratePerSecond ? ` · ${c.ratePerSecond}/s` : ""}${c.from ? ` · from number <code>${esc(c.from)}</code>` : ""}${c.validitySeconds ? ` · each expires ${esc(c.validitySeconds)} s after its turn` : ""}</div>
    <progress class="progress" max="100" value="${Number(c.progressPercent) || 0}" aria-label="${esc(c.name)} progress"></progress>
    <div class="muted progress-text">${c.settled} of ${c.recipients} settled (${c.progressPercent}%)</div>
    <div class="counts">${counts}</div>
    <div class="row">${actions} <button class="secondary" data-cost="${esc(c.id)}">Cost so far</button> <a href="#/messages?batchId=${encodeURIComponent(c.id)}">Messages</a></div>
    <div class="muted campaign-cost" data-cost-of="${esc(c.id)}" aria-live="polite"></div>
  </div>`;
}

/// A campaign's cost so far (GET /campaigns/{id}), in words.
function campaignCost(cost) {
  const n = cost.messages;
  const billed = `${n} billable message${n === 1 ? "" : "s"}`;
  const totals = cost.totals.map((t) => `${esc(t.cost)} ${esc(t.currency)}`).join(" + ");
  const unpriced = cost.unpriced.reduce((sum, u) => sum + u.messages, 0);
  if (!n) return "Nothing billed yet: Meta prices a message when it reports it sent.";
  return `${billed}${totals ? ` · ${totals}` : ""}${unpriced ? ` · ${unpriced} without a rate (start the server with --rate-card to price them)` : ""}`;
}

async function campaignsPage(view, token) {
  const r = await api("GET", "/campaigns?limit=50", undefined, { token });
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Campaigns</h1>
    <p class="muted">Create one with <code>POST /campaigns</code> or <code>whatsapi bulk FILE.csv --campaign NAME</code>; Cost so far prices its billed messages by the server's rate card.</p>
    <div id="campaigns-list">${r.data.map(campaignItem).join("") || '<div class="card muted">No campaigns yet.</div>'}</div>
    <p class="muted" id="live-state"></p>`;
  view.onclick = async (e) => {
    const costButton = e.target.closest("button[data-cost]");
    if (costButton) {
      const out = view.querySelector(`[data-cost-of="${CSS.escape(costButton.dataset.cost)}"]`);
      costButton.disabled = true;
      try { out.innerHTML = campaignCost((await api("GET", `/campaigns/${costButton.dataset.cost}`)).data.cost); } catch (err) { out.textContent = err.message; }
      costButton.disabled = false;
      return;
    }
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    b.disabled = true;
    try { await api("POST", `/campaigns/${b.dataset.id}/${b.dataset.action}`); toast(`Campaign ${b.dataset.action === "cancel" ? "cancelled" : b.dataset.action + "d"}`); route(); } catch (err) { toast(err.message); b.disabled = false; }
  };
  const running = r.data.some((c) => c.state === "running");
  $("#live-state").textContent = running ? "Refreshing while a campaign is running." : "";
  view.dataset.polling = running ? "on" : "off";
  if (running) schedulePoll(() => { if (location.hash.startsWith("#/campaigns") && token === state.routeToken) route(); }, pollDelay());
}

async function messageDetail(view, id, token) {
  const m = (await api("GET", `/messages/${id}`, undefined, { token })).data;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  const retryHint = m.status === "failed" && !m.retryable
    ? `<p class="muted" id="no-retry">Sending it again would fail the same way, so there is no retry for this error.</p>`
    : m.errorCode === 131047 ? `<p class="muted">Retry once the customer has written to you: that opens Meta's 24-hour window.</p>` : "";
  view.innerHTML = `<p><a href="#/messages">← Messages</a></p><h1>Message ${badge(m.status)}</h1>
    <div class="card"><div class="grid">
      <div><div class="muted">Id</div><code class="full-id" id="message-id">${esc(m.id)}</code></div><div><div class="muted">To</div><code id="recipient">${esc(m.to || "—")}</code></div>
      ${m.recipientUserId ? `<div><div class="muted">User id (username)</div><code class="full-id" id="recipient-user-id">${esc(m.recipientUserId)}</code></div>` : ""}
      ${m.context ? `<div><div class="muted">Reply to</div><code class="full-id" id="reply-to">${esc(m.context.messageId)}</code></div>` : ""}
      <div><div class="muted">Created</div>${when(m.createdAt)}</div><div><div class="muted">Batch</div><code class="full-id">${esc(m.batchId || "—")}</code></div>
      <div><div class="muted">Meta id</div><code class="full-id" id="wamid">${esc(m.wamid || "—")}</code></div><div><div class="muted">Dry run</div>${m.dryRun ? "yes" : "no"}</div>
      ${m.expiresAt ? `<div><div class="muted">Expires unsent</div><span id="expires-at">${when(m.expiresAt)}</span></div>` : ""}</div>
      ${contentDetail(m)}
      ${m.errorMessage ? `<p class="error" id="error-message">${esc(m.errorMessage)}</p>` : ""}
      ${m.retryable ? `<button id="retry">Retry</button>` : ""}${retryHint}</div>
    <div class="card"><h2>Timeline</h2><ul class="timeline">${m.timeline.map((t) => `<li>${badge(t.status)} <span class="muted">${when(t.at)}</span> ${t.detail ? `<span class="error">${esc(t.detail)}</span>` : ""}</li>`).join("")}</ul></div>`;
  if ($("#retry")) $("#retry").onclick = async () => {
    try { await api("POST", `/messages/${id}/retry`); toast("Queued again"); route(); } catch (err) { toast(err.message); }
  };
  if (!["delivered", "read", "failed"].includes(m.status)) {
    schedulePoll(() => { if (location.hash === `#/messages/${id}` && token === state.routeToken) route(); }, pollDelay(2000));
  }
}

// ---- templates ----
const TPL_STATUS = { APPROVED: "ok", PENDING: "pending", IN_APPEAL: "pending", PAUSED: "warn", REJECTED: "bad", DISABLED: "bad" };
function tplBadge(status) {
  return `<span class="badge tpl-${TPL_STATUS[status] || "other"}" data-status="${esc(status)}">${esc(String(status).toLowerCase())}</span>`;
}
/// A template's text, escaped, with its placeholders ({{1}}, {{first_name}}) marked.
const withPlaceholders = (text) => esc(text).replace(/\{\{\s*(\w+)\s*\}\}/g, '<span class="ph">{{$1}}</span>');

function templateItem(t) {
  const comps = t.components || [];
  const parts = comps.map((c) => {
    if (c.type === "BUTTONS") {
      return `<ul class="chips tpl-buttons" aria-label="Buttons">${(c.buttons || []).map((b) => `<li class="chip"><span class="muted">${esc(String(b.type).toLowerCase().replace(/_/g, " "))}</span> ${esc(b.text || b.otpType || "")}${b.url ? ` <code>${withPlaceholders(b.url)}</code>` : ""}${b.phoneNumber ? ` <code>${esc(b.phoneNumber)}</code>` : ""}</li>`).join("")}</ul>`;
    }
    const label = c.type === "HEADER" && c.format && c.format !== "TEXT" ? `header (${esc(String(c.format).toLowerCase())})` : esc(String(c.type).toLowerCase());
    return `<div class="tpl-part tpl-${esc(String(c.type).toLowerCase())}"><span class="tpl-label">${label}</span> ${c.text ? withPlaceholders(c.text) : ""}</div>`;
  }).join("");
  return `<li class="tpl" data-name="${esc(t.name)}" data-language="${esc(t.language)}">
      <div class="tpl-head"><code class="tpl-name">${esc(t.name)}</code> <span class="muted">${esc(t.language)}</span>
        <span class="type-tag">${esc(String(t.category || "—").toLowerCase())}</span> ${tplBadge(t.status)}</div>
      <div class="tpl-body">${parts || '<span class="muted">No components.</span>'}</div></li>`;
}

async function templatesPage(view, token) {
  view.innerHTML = `<h1>Templates</h1>
    <div class="card"><div class="toolbar"><p id="templates-meta" class="muted" aria-live="polite">Reading your templates…</p>
      <button id="templates-refresh" class="secondary" disabled>Refresh from Meta</button></div>
      <div id="templates-body"></div></div>`;
  const load = async (refresh) => {
    const button = $("#templates-refresh");
    button.disabled = true;
    $("#view").setAttribute("aria-busy", "true");
    try {
      const d = (await api("GET", "/templates" + (refresh ? "?refresh=true" : ""), undefined, { token })).data;
      if (token !== state.routeToken) return;
      const list = d.templates || [];
      $("#templates-meta").innerHTML = `${list.length} template${list.length === 1 ? "" : "s"} of WhatsApp Business Account <code>${esc(d.whatsappBusinessAccountId)}</code>, read from Meta ${esc(when(d.fetchedAt))}.`
        + (d.truncated ? " Meta has more; only the first 2,000 are shown." : "");
      $("#templates-body").innerHTML = (d.refreshError ? `<p class="error" id="templates-refresh-error">Meta could not be read again, so this is the list read earlier: ${esc(d.refreshError)}</p>` : "")
        + (list.length ? `<ul class="tpl-list" id="templates-list">${list.map(templateItem).join("")}</ul>`
          : `<p class="muted" id="templates-empty">This WhatsApp Business Account has no templates yet. Create them in Meta's WhatsApp Manager; they appear here once Meta has them.</p>`);
      if (refresh) toast("Templates read from Meta");
    } catch (err) {
      if (err instanceof Stale || token !== state.routeToken) return;
      if (err.status === 401) return signOut("Your session ended: the key is no longer valid.");
      const noWaba = err.status === 400 && /whatsappBusinessAccountId/.test(err.message);
      $("#templates-meta").textContent = noWaba ? "No WhatsApp Business Account id is saved." : "The templates could not be read.";
      $("#templates-body").innerHTML = noWaba
        ? `<div id="templates-error" class="empty"><p>Templates live in your WhatsApp Business Account (WABA). Save its id, <code>whatsappBusinessAccountId</code>, with your Meta credentials: in <a href="#/setup">Guided setup</a>, or with <code>PUT /auth/me/credentials</code>.</p><p class="muted">${esc(err.message)}</p></div>`
        : `<div id="templates-error" class="empty"><p class="error">${esc(err.status === 502 ? "Meta could not be reached: " : "")}${esc(err.message)}</p><p class="muted">Try again with Refresh from Meta.</p></div>`;
    } finally {
      if (token === state.routeToken) { button.disabled = false; $("#view").removeAttribute("aria-busy"); }
    }
  };
  $("#templates-refresh").onclick = () => load(true);
  await load(false);
}

// ---- analytics ----
async function analyticsPage(view, token) {
  const s = (await api("GET", "/analytics/summary", undefined, { token })).data;
  const series = (await api("GET", "/analytics/timeseries?days=7", undefined, { token })).data;
  const costs = (await api("GET", "/analytics/costs", undefined, { token })).data;
  const pct = (x) => (x * 100).toFixed(0) + "%";
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Analytics</h1>
    <div class="grid"><div class="card stat"><div class="muted">Messages</div><div class="value" id="stat-total">${s.total}</div></div>
      <div class="card stat"><div class="muted">Delivery rate</div><div class="value">${pct(s.deliveryRate)}</div></div>
      <div class="card stat"><div class="muted">Failure rate</div><div class="value">${pct(s.failureRate)}</div></div></div>
    <div class="card"><h2>By status</h2><div>${Object.entries(s.byStatus).map(([k, v]) => `${badge(k)} ${v}`).join(" &nbsp; ") || '<span class="muted">No messages yet.</span>'}</div></div>
    ${costsCard(costs)}
    <div class="card"><h2>Messages per ${esc(series.bucket)}, last 7 days</h2><div class="table-wrap">${chart(series.points)}</div>
      <div class="legend">${STATUSES.map((st) => `<span><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="${COLORS[st]}"/></svg>${st}</span>`).join("")}</div></div>`;
}

/// This month's billable messages by country and category, priced by the server's rate card.
function costsCard(c) {
  const totals = c.totals.map((t) => `${esc(t.cost)} ${esc(t.currency)}`).join(" + ") || "—";
  const rows = c.rows.map((r) => `<tr><td>${esc(r.country)}</td><td>${esc(r.category)}</td><td>${esc(r.messages)}</td><td>${esc(r.unitPrice)} ${esc(r.currency)}</td><td>${esc(r.cost)} ${esc(r.currency)}</td></tr>`)
    .concat(c.unpriced.map((u) => `<tr><td>${esc(u.country || "unknown")}</td><td>${esc(u.category)}</td><td>${esc(u.messages)}</td><td colspan="2" class="muted">no rate</td></tr>`)).join("");
  return `<div class="card" id="costs"><h2>Costs this month</h2>
    <p>${esc(c.billableMessages)} billable message${c.billableMessages === 1 ? "" : "s"} · ${totals}${c.rateCard ? "" : ' <span class="muted">(no rate card: start the server with --rate-card to price them)</span>'}</p>
    ${rows ? `<div class="table-wrap"><table><thead><tr><th>Country</th><th>Category</th><th>Messages</th><th>Unit price</th><th>Cost</th></tr></thead><tbody>${rows}</tbody></table></div>` : ""}</div>`;
}

function chart(points) {
  const w = 900, h = 220, pad = 28, max = Math.max(1, ...points.map((p) => p.total));
  const bw = (w - pad) / Math.max(points.length, 1);
  const bars = points.map((p, i) => {
    let y = h - pad;
    const x = pad + i * bw;
    const rects = STATUSES.filter((st) => p.byStatus[st]).map((st) => {
      const bh = (p.byStatus[st] / max) * (h - 2 * pad);
      y -= bh;
      return `<rect x="${x + 2}" y="${y}" width="${Math.max(bw - 4, 1)}" height="${bh}" fill="${COLORS[st]}"><title>${esc(p.start)} ${st}: ${p.byStatus[st]}</title></rect>`;
    }).join("");
    const label = i % Math.ceil(points.length / 7) === 0 ? `<text x="${x + 2}" y="${h - 8}">${esc(p.start.slice(5, 10))}</text>` : "";
    return rects + label;
  }).join("");
  return `<svg id="chart" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="messages by status over time">
    <text x="0" y="${pad}">${max}</text><line class="axis" x1="${pad}" y1="${h - pad}" x2="${w}" y2="${h - pad}"/>${bars}</svg>`;
}

// ---- webhooks ----
const EVENT_TYPES = [
  ["message.status_updated", "a message's status changed"], ["message.received", "a customer wrote in"],
  ["template.status_updated", "a template was approved, rejected, paused…"], ["template.quality_updated", "a template's quality rating changed"],
  ["template.category_updated", "Meta changed a template's category"],
];
const SCHEDULES = { default: null, none: [], standard: [5, 300, 1800, 7200, 18000, 36000, 36000] };
const delivered = (d) => d.httpStatus >= 200 && d.httpStatus < 300 && !d.error;

/// A delivery log: newest first; the newest attempt of an event that failed gets a Re-send button.
function deliveryTable(id, list) {
  const seen = new Set();
  const rows = list.map((d) => {
    const latest = !seen.has(d.eventId);
    seen.add(d.eventId);
    const ok = delivered(d);
    const resend = !ok && latest ? `<button class="secondary small" data-resend="${esc(d.eventId)}" aria-label="Re-send event ${esc(String(d.eventId).slice(-8))}">Re-send</button>` : "";
    return `<tr data-event="${esc(d.eventId)}" data-outcome="${ok ? "delivered" : "failed"}"><td class="nowrap">${when(d.at)}</td><td class="nowrap">${d.event ? `<code>${esc(d.event)}</code> ` : ""}${shortId(d.eventId)}</td>
      <td>${d.messageId ? `<a href="#/messages/${esc(d.messageId)}">${shortId(d.messageId)}</a>` : "—"}</td><td>${d.status ? badge(d.status) : "—"}</td>
      <td>${ok ? `<span class="badge delivered">${esc(d.httpStatus)}</span>` : `<span class="badge failed">${esc(d.httpStatus ?? "no answer")}</span>`}</td>
      <td class="error wrap">${esc(d.error || "")}</td><td class="nowrap">${resend}</td></tr>`;
  }).join("");
  return `<div class="table-wrap"><table id="${esc(id)}" class="deliveries"><thead><tr><th>When</th><th>Event</th><th>Message</th><th>Status</th><th>HTTP</th><th>Error</th><th><span class="sr-only">Action</span></th></tr></thead><tbody>
    ${rows || '<tr><td colspan="7" class="muted">No deliveries yet.</td></tr>'}</tbody></table></div>`;
}

function endpointItem(e) {
  const events = e.events && e.events.length ? e.events : ["every event"];
  return `<li class="endpoint" data-id="${esc(e.id)}">
      <div class="endpoint-head"><code class="full-id endpoint-url">${esc(e.url)}</code>
        ${e.enabled ? '<span class="badge delivered endpoint-state">enabled</span>' : '<span class="badge failed endpoint-state">disabled</span>'}</div>
      ${e.disabledReason ? `<p class="error">${esc(e.disabledReason)}</p>` : ""}
      <ul class="chips" aria-label="Events">${events.map((x) => `<li class="chip">${esc(x)}</li>`).join("")}</ul>
      <p class="muted">Retries: ${e.retrySchedule && e.retrySchedule.length ? esc(e.retrySchedule.map((x) => x + " s").join(", ")) : "none"} · created ${esc(when(e.createdAt))}</p>
      <div class="row actions"><button class="secondary" data-log="${esc(e.id)}" aria-expanded="false" aria-controls="log-${esc(e.id)}">Delivery log</button>
        <button class="secondary" data-toggle="${esc(e.id)}" data-enabled="${e.enabled ? "true" : "false"}">${e.enabled ? "Disable" : "Enable"}</button>
        <button class="danger" data-delete="${esc(e.id)}">Delete</button></div>
      <div class="endpoint-log" id="log-${esc(e.id)}" hidden></div></li>`;
}

async function webhooksPage(view, token) {
  const deliveries = (await api("GET", "/auth/me/webhook/deliveries?limit=20", undefined, { token })).data;
  const endpoints = (await api("GET", "/webhooks/endpoints", undefined, { token })).data;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Webhooks</h1>
    <div class="card"><h2>Your endpoint</h2><p>Current: ${state.me.webhookUrl ? `<code id="current-webhook">${esc(state.me.webhookUrl)}</code>` : '<span class="muted" id="current-webhook">none</span>'}</p>
      <p class="muted">The reference webhook receives every event type; switch on <code>event</code> in your handler.</p>
      <form id="webhook-form" class="row"><div><label for="webhook-url">URL</label><input id="webhook-url" placeholder="https://yourapp.com/webhooks/whatsapi" required></div>
      <button type="submit">Save</button>${state.me.webhookUrl ? '<button type="button" class="danger" id="remove-webhook">Remove</button>' : ""}</form>
      <div id="webhook-secret"></div></div>
    <div class="card"><div class="toolbar"><h2>Latest delivery attempts</h2><button class="secondary" id="reload-deliveries">Reload</button></div>
      <div id="reference-log">${deliveryTable("deliveries", deliveries)}</div></div>
    <div class="card"><h2>Endpoints</h2>
      <p class="muted">More endpoints, each with its own signing secret, event types and retry schedule (at most 10).</p>
      <ul class="endpoint-list" id="endpoints">${endpoints.map(endpointItem).join("") || '<li class="muted" id="no-endpoints">No endpoints yet.</li>'}</ul>
      <div id="endpoint-secret" aria-live="polite"></div>
      <form id="endpoint-form"><h3>Add an endpoint</h3>
        <label for="endpoint-url">URL</label><input id="endpoint-url" type="url" placeholder="https://yourapp.com/webhooks/whatsapi-events" required>
        <fieldset class="events"><legend>Events (none checked: every event)</legend>
          ${EVENT_TYPES.map(([name, what]) => `<label class="check"><input type="checkbox" name="event" value="${esc(name)}"> <span><code>${esc(name)}</code> <span class="muted">${esc(what)}</span></span></label>`).join("")}
        </fieldset>
        <label for="endpoint-retries">Retries of a failed delivery</label>
        <select id="endpoint-retries"><option value="default">one retry after 5 s (default)</option><option value="none">no retry</option>
          <option value="standard">Standard Webhooks schedule (7 retries over about 3 days)</option></select>
        <p></p><button type="submit">Add endpoint</button></form></div>`;
  $("#webhook-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const r = (await api("PUT", "/auth/me/webhook", { url: $("#webhook-url").value.trim() })).data;
      $("#current-webhook").outerHTML = `<code id="current-webhook">${esc(r.webhookUrl)}</code>`;
      state.me.webhookUrl = r.webhookUrl;
      saveAccount();
      $("#webhook-secret").innerHTML = `<h2>Signing secret</h2>${secretBox(r.signingSecret, "Shown once. Check the webhook-signature header of every delivery with it (Standard Webhooks).")}`;
    } catch (err) { toast(err.message); }
  };
  if ($("#remove-webhook")) $("#remove-webhook").onclick = async () => {
    try { await api("DELETE", "/auth/me/webhook"); state.me.webhookUrl = null; saveAccount(); toast("Webhook removed"); route(); } catch (err) { toast(err.message); }
  };
  const reloadReference = async () => {
    const list = (await api("GET", "/auth/me/webhook/deliveries?limit=20", undefined, { token })).data;
    if (token === state.routeToken) $("#reference-log").innerHTML = deliveryTable("deliveries", list);
  };
  const reloadLog = async (id) => {
    const list = (await api("GET", `/webhooks/endpoints/${encodeURIComponent(id)}/deliveries?limit=20`, undefined, { token })).data;
    const box = document.getElementById(`log-${id}`);
    if (token !== state.routeToken || !box) return;
    box.innerHTML = `<div class="toolbar"><h3>Delivery log</h3><button class="secondary small" data-reload-log="${esc(id)}">Reload</button></div>${deliveryTable(`deliveries-${id}`, list)}`;
  };
  $("#reload-deliveries").onclick = () => reloadReference().catch((err) => toast(err.message));
  $("#endpoint-form").onsubmit = async (e) => {
    e.preventDefault();
    const button = e.target.querySelector("button[type=submit]");
    const body = { url: $("#endpoint-url").value.trim(), events: [...e.target.querySelectorAll("input[name=event]:checked")].map((c) => c.value) };
    const schedule = SCHEDULES[$("#endpoint-retries").value];
    if (schedule) body.retrySchedule = schedule;
    button.disabled = true;
    try {
      const created = (await api("POST", "/webhooks/endpoints", body)).data;
      const none = $("#no-endpoints");
      if (none) none.remove();
      $("#endpoints").insertAdjacentHTML("beforeend", endpointItem(created));
      e.target.reset();
      $("#endpoint-secret").innerHTML = `<h3>Signing secret of <code class="full-id">${esc(created.url)}</code></h3>${secretBox(created.signingSecret, "Shown once. Check the webhook-signature header of this endpoint's deliveries with it (Standard Webhooks).", "endpoint-secret-value")}`;
      $("#endpoint-secret-value").parentElement.querySelector("button").focus();
    } catch (err) { toast(err.message); } finally { button.disabled = false; }
  };
  view.onclick = async (e) => {
    const t = e.target.closest("button");
    if (!t || !view.contains(t)) return;
    try {
      if (t.dataset.log) {
        const box = document.getElementById(`log-${t.dataset.log}`);
        const open = box.hidden;
        box.hidden = !open;
        t.setAttribute("aria-expanded", String(open));
        if (open) { box.innerHTML = '<p class="muted">Loading…</p>'; await reloadLog(t.dataset.log); }
      } else if (t.dataset.reloadLog) {
        await reloadLog(t.dataset.reloadLog);
      } else if (t.dataset.delete) {
        const li = t.closest(".endpoint");
        if (!confirm(`Delete the endpoint ${li.querySelector(".endpoint-url").textContent}? Its waiting events and delivery log go with it.`)) return;
        await api("DELETE", `/webhooks/endpoints/${encodeURIComponent(t.dataset.delete)}`);
        li.remove();
        if (!$("#endpoints").children.length) $("#endpoints").innerHTML = '<li class="muted" id="no-endpoints">No endpoints yet.</li>';
        toast("Endpoint deleted");
        $("#endpoint-url").focus();
      } else if (t.dataset.toggle) {
        const li = t.closest(".endpoint");
        const enable = t.dataset.enabled !== "true";
        t.disabled = true;
        const updated = (await api("PATCH", `/webhooks/endpoints/${encodeURIComponent(t.dataset.toggle)}`, { enabled: enable })).data;
        const fresh = document.createElement("template");
        fresh.innerHTML = endpointItem(updated).trim();
        li.replaceWith(fresh.content.firstChild);
        toast(enable ? "Endpoint enabled" : "Endpoint disabled: nothing is delivered there");
        const again = document.querySelector(`[data-toggle="${CSS.escape(updated.id)}"]`);
        if (again) again.focus();
      } else if (t.dataset.resend) {
        t.disabled = true;
        await api("POST", `/webhooks/deliveries/${encodeURIComponent(t.dataset.resend)}/retry`);
        toast("Re-sent: the event is due again");
        const log = t.closest(".endpoint-log");
        await sleep(1500);
        if (log) await reloadLog(log.id.slice(4)); else await reloadReference();
      }
    } catch (err) {
      if (err instanceof Stale) return;
      if (err.status === 401) return signOut("Your session ended: the key is no longer valid.");
      t.disabled = false;
      toast(err.message);
    }
  };
}

// ---- settings ----
async function settingsPage(view, token) {
  const me = await refreshMe(token);
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Settings</h1>
    <div class="card"><h2>Account</h2><div class="grid"><div><div class="muted">Name</div>${esc(me.name)}</div><div><div class="muted">Email</div>${esc(me.email)}</div>
      <div><div class="muted">Plan</div><span id="plan">${esc(me.plan)}</span></div><div><div class="muted">Requests per minute</div>${me.rateLimitPerMinute}</div>
      <div><div class="muted">Messages per bulk request</div>${me.bulkLimit}</div><div><div class="muted">Messages sent</div>${me.messagesSent}</div></div></div>
    <div class="card"><h2>API key</h2><p class="muted">Rotating makes the current key stop working at once.</p><button id="rotate" class="danger">Rotate key</button><div id="new-key"></div></div>
    <div class="card"><h2>Billing</h2><div class="row"><button id="upgrade-basic" class="secondary">Upgrade to Basic</button><button id="upgrade-pro" class="secondary">Upgrade to Pro</button>
      <button id="portal" class="secondary">Billing portal</button></div><p id="billing-msg" class="muted"></p></div>`;
  $("#rotate").onclick = async () => {
    if (!confirm("Rotate the API key? The current key stops working immediately.")) return;
    const r = (await api("POST", "/auth/me/rotate-key")).data;
    state.key = r.apiKey;
    sessionStorage.setItem("whatsapi.key", r.apiKey);
    saveAccount();
    $("#new-key").innerHTML = secretBox(r.apiKey, "Your new key is shown only once. Update your applications now.");
  };
  const billing = async (fn) => { try { const r = await fn(); if (r.data && r.data.url) location.href = r.data.url; } catch (err) { $("#billing-msg").textContent = err.message; } };
  $("#upgrade-basic").onclick = () => billing(() => api("POST", "/billing/checkout", { plan: "basic" }));
  $("#upgrade-pro").onclick = () => billing(() => api("POST", "/billing/checkout", { plan: "pro" }));
  $("#portal").onclick = () => billing(() => api("GET", "/billing/portal"));
}

if (state.key) signIn(state.key); else showAuth();
