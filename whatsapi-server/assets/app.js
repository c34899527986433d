// whatsapi console: a small single-page app over the public API. No build step, no third-party code.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const STATUSES = ["queued", "scheduled", "processing", "retrying", "sent", "delivered", "read", "failed"];
const COLORS = { queued: "#60a5fa", scheduled: "#818cf8", processing: "#f59e0b", retrying: "#fb923c", sent: "#34d399", delivered: "#25d366", read: "#128c7e", failed: "#ef4444" };
const state = { key: sessionStorage.getItem("whatsapi.key"), me: null, setup: null, poll: null, routeToken: 0 };

async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (state.key) headers.Authorization = "Bearer " + state.key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  try { json = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const details = (json && json.details || []).map((d) => `${d.field}: ${d.message}`).join("; ");
    const err = new Error((json && json.error || `HTTP ${res.status}`) + (details ? ` (${details})` : ""));
    err.status = res.status;
    throw err;
  }
  return json;
}

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 3500);
}

function badge(status) { return `<span class="badge ${esc(status)}" data-status="${esc(status)}">${esc(status)}</span>`; }
function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
function secretBox(value, warning) {
  return `<div class="secret"><code id="secret-value">${esc(value)}</code><button class="secondary" data-copy="${esc(value)}">Copy</button></div>
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
  try {
    state.me = (await api("GET", "/auth/me")).data;
    state.setup = (await api("GET", "/auth/me/setup")).data;
  } catch (err) {
    state.key = null;
    sessionStorage.removeItem("whatsapi.key");
    return showAuth("signin", err.status === 401 ? "That key is not valid." : err.message);
  }
  sessionStorage.setItem("whatsapi.key", key);
  $("#auth").hidden = true;
  $("#shell").hidden = false;
  $("#account-name").textContent = `${state.me.name} · ${state.me.plan}`;
  $("#sandbox-banner").hidden = !state.setup.sandbox;
  if (!location.hash || location.hash === "#/") location.hash = state.me.messagesSent > 0 ? "#/messages" : "#/setup";
  route();
}

$("#sign-out").onclick = () => {
  state.key = null;
  sessionStorage.removeItem("whatsapi.key");
  location.hash = "";
  showAuth();
};

// ---- router ----
function stopPolling() { if (state.poll) { clearInterval(state.poll); state.poll = null; } }
async function route() {
  if (!state.key) return showAuth();
  stopPolling();
  const token = ++state.routeToken;
  const [, page, arg] = location.hash.split("?")[0].split("/");
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === page));
  const view = $("#view");
  try {
    if (page === "messages" && arg) return await messageDetail(view, arg, token);
    const pages = { setup: guidedSetup, messages: messagesPage, analytics: analyticsPage, webhooks: webhooksPage, settings: settingsPage };
    await (pages[page] || guidedSetup)(view, token);
  } catch (err) {
    if (err.status === 401) return showAuth("signin", "Your session ended: the key is no longer valid.");
    if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<div class="card error">${esc(err.message)}</div>`;
  }
}
window.addEventListener("hashchange", route);

// ---- guided setup ----
async function guidedSetup(view, token) {
  state.me = (await api("GET", "/auth/me")).data;
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
    try { await api("PUT", "/auth/me/credentials", body); toast("Credentials saved"); route(); } catch (err) { toast(err.message); }
  };
  $("#verify").onclick = async () => {
    const out = $("#verify-result");
    out.textContent = "checking…";
    try {
      const r = (await api("POST", "/auth/me/credentials/verify")).data;
      out.innerHTML = r.valid ? `✓ ${esc(r.verifiedName)} (${esc(r.displayPhoneNumber)})` : `<span class="error">✗ ${esc(r.error)}</span>`;
      if (r.valid) { $("#step-verify").className = "step done"; $("#step-send").className = "step current"; }
    } catch (err) { out.innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  };
  $("#first-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/send-message", { to: $("#first-to").value.trim(), template: { name: "hello_world", language: "en_US" } });
      $("#step-send").className = "step done";
      $("#step-watch").className = "step current";
      watch(r.data.id);
    } catch (err) { toast(err.message); }
  };
}

function watch(id) {
  const out = $("#watch");
  const tick = async () => {
    let m;
    try { m = (await api("GET", `/messages/${id}`)).data; } catch (err) { out.textContent = err.message; return; }
    const reached = new Set(m.timeline.map((t) => t.status));
    out.innerHTML = `<p>Message <a href="#/messages/${esc(id)}">${esc(id)}</a> is ${badge(m.status)}</p>
      <div>${["queued", "sent", "delivered", "read"].map((s) => `<span class="badge ${reached.has(s) ? s : ""}">${reached.has(s) ? "✓" : "·"} ${s}</span>`).join(" ")}</div>
      ${m.errorMessage ? `<p class="error">${esc(m.errorMessage)}</p>` : ""}`;
    if (["delivered", "read", "failed"].includes(m.status)) {
      stopPolling();
      if (m.status !== "failed") { $("#step-watch").className = "step done"; out.insertAdjacentHTML("beforeend", `<p id="first-delivered">✓ Delivered. You are integrated.</p>`); }
    }
  };
  stopPolling();
  tick();
  state.poll = setInterval(tick, 2000);
}

// ---- messages ----
async function messagesPage(view, token) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = params.get("status") || "", batchId = params.get("batchId") || "", page = Number(params.get("page") || 1);
  const q = new URLSearchParams({ page, limit: 20 });
  if (status) q.set("status", status);
  if (batchId) q.set("batchId", batchId);
  const r = await api("GET", "/messages?" + q);
  const p = r.pagination;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Messages</h1>
    <div class="card"><form id="filters" class="row">
      <div><label for="f-status">Status</label><select id="f-status"><option value="">any</option>${STATUSES.map((s) => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select></div>
      <div><label for="f-batch">Batch id</label><input id="f-batch" value="${esc(batchId)}" placeholder="from a bulk send"></div>
      <button type="submit">Filter</button></form></div>
    <div class="card"><table id="messages-table"><thead><tr><th>Created</th><th>To</th><th>Content</th><th>Status</th><th>Error</th></tr></thead><tbody>
      ${r.data.map((m) => `<tr class="click" data-id="${esc(m.id)}"><td>${when(m.createdAt)}</td><td class="mono">${esc(m.to)}</td>
        <td>${m.template ? `template <code>${esc(m.template.name)}</code>` : esc((m.body || "").slice(0, 60))}</td><td>${badge(m.status)}</td>
        <td class="error">${esc((m.errorMessage || "").slice(0, 60))}</td></tr>`).join("") || `<tr><td colspan="5" class="muted">No messages.</td></tr>`}
    </tbody></table>
    <div class="pager"><button class="secondary" id="prev" ${page <= 1 ? "disabled" : ""}>Previous</button>
      <span class="muted">Page ${p.page} of ${Math.max(p.totalPages, 1)} · ${p.total} messages</span>
      <button class="secondary" id="next" ${page >= p.totalPages ? "disabled" : ""}>Next</button></div></div>`;
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
  view.querySelectorAll("tr[data-id]").forEach((tr) => (tr.onclick = () => (location.hash = `#/messages/${tr.dataset.id}`)));
}

async function messageDetail(view, id, token) {
  const m = (await api("GET", `/messages/${id}`)).data;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<p><a href="#/messages">← Messages</a></p><h1>Message ${badge(m.status)}</h1>
    <div class="card"><div class="grid">
      <div><div class="muted">Id</div><code>${esc(m.id)}</code></div><div><div class="muted">To</div><code>${esc(m.to)}</code></div>
      <div><div class="muted">Created</div>${when(m.createdAt)}</div><div><div class="muted">Batch</div><code>${esc(m.batchId || "—")}</code></div>
      <div><div class="muted">Meta id</div><code>${esc(m.wamid || "—")}</code></div><div><div class="muted">Dry run</div>${m.dryRun ? "yes" : "no"}</div></div>
      <p>${m.template ? `Template <code>${esc(m.template.name)}</code> (${esc(m.template.language)})` : esc(m.body)}</p>
      ${m.errorMessage ? `<p class="error" id="error-message">${esc(m.errorMessage)}</p>` : ""}
      ${m.status === "failed" ? `<button id="retry">Retry</button>` : ""}</div>
    <div class="card"><h2>Timeline</h2><ul class="timeline">${m.timeline.map((t) => `<li>${badge(t.status)} <span class="muted">${when(t.at)}</span> ${t.detail ? `<span class="error">${esc(t.detail)}</span>` : ""}</li>`).join("")}</ul></div>`;
  if ($("#retry")) $("#retry").onclick = async () => {
    try { await api("POST", `/messages/${id}/retry`); toast("Queued again"); route(); } catch (err) { toast(err.message); }
  };
  if (!["delivered", "read", "failed"].includes(m.status)) {
    state.poll = setInterval(() => { if (location.hash === `#/messages/${id}` && token === state.routeToken) route(); }, 2000);
  }
}

// ---- analytics ----
async function analyticsPage(view, token) {
  const s = (await api("GET", "/analytics/summary")).data;
  const series = (await api("GET", "/analytics/timeseries?days=7")).data;
  const pct = (x) => (x * 100).toFixed(0) + "%";
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Analytics</h1>
    <div class="grid"><div class="card stat"><div class="muted">Messages</div><div class="value" id="stat-total">${s.total}</div></div>
      <div class="card stat"><div class="muted">Delivery rate</div><div class="value">${pct(s.deliveryRate)}</div></div>
      <div class="card stat"><div class="muted">Failure rate</div><div class="value">${pct(s.failureRate)}</div></div></div>
    <div class="card"><h2>By status</h2><div>${Object.entries(s.byStatus).map(([k, v]) => `${badge(k)} ${v}`).join(" &nbsp; ") || '<span class="muted">No messages yet.</span>'}</div></div>
    <div class="card"><h2>Messages per ${esc(series.bucket)}, last 7 days</h2>${chart(series.points)}
      <div class="legend">${STATUSES.map((st) => `<span><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="${COLORS[st]}"/></svg>${st}</span>`).join("")}</div></div>`;
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
    <text x="0" y="${pad}">${max}</text><line x1="${pad}" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#2a2f3a"/>${bars}</svg>`;
}

// ---- webhooks ----
async function webhooksPage(view, token) {
  state.me = (await api("GET", "/auth/me")).data;
  const deliveries = (await api("GET", "/auth/me/webhook/deliveries?limit=20")).data;
  if (token !== state.routeToken) return; // a newer navigation owns the view
  view.innerHTML = `<h1>Webhooks</h1>
    <div class="card"><h2>Your endpoint</h2><p>Current: ${state.me.webhookUrl ? `<code id="current-webhook">${esc(state.me.webhookUrl)}</code>` : '<span class="muted" id="current-webhook">none</span>'}</p>
      <form id="webhook-form" class="row"><div><label for="webhook-url">URL</label><input id="webhook-url" placeholder="https://yourapp.com/webhooks/whatsapi" required></div>
      <button type="submit">Save</button>${state.me.webhookUrl ? '<button type="button" class="danger" id="remove-webhook">Remove</button>' : ""}</form>
      <div id="webhook-secret"></div></div>
    <div class="card"><h2>Latest delivery attempts</h2><table id="deliveries"><thead><tr><th>When</th><th>Message</th><th>Status</th><th>HTTP</th><th>Error</th></tr></thead><tbody>
      ${deliveries.map((d) => `<tr><td>${when(d.at)}</td><td><a href="#/messages/${esc(d.messageId)}"><code>${esc(d.messageId.slice(0, 8))}…</code></a></td><td>${badge(d.status)}</td>
        <td>${esc(d.httpStatus ?? "—")}</td><td class="error">${esc(d.error || "")}</td></tr>`).join("") || '<tr><td colspan="5" class="muted">No deliveries yet.</td></tr>'}
    </tbody></table></div>`;
  $("#webhook-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const r = (await api("PUT", "/auth/me/webhook", { url: $("#webhook-url").value.trim() })).data;
      $("#current-webhook").outerHTML = `<code id="current-webhook">${esc(r.webhookUrl)}</code>`;
      $("#webhook-secret").innerHTML = `<h2>Signing secret</h2>${secretBox(r.signingSecret, "Shown once. Check the webhook-signature header of every delivery with it (Standard Webhooks).")}`;
    } catch (err) { toast(err.message); }
  };
  if ($("#remove-webhook")) $("#remove-webhook").onclick = async () => { await api("DELETE", "/auth/me/webhook"); toast("Webhook removed"); route(); };
}

// ---- settings ----
async function settingsPage(view, token) {
  state.me = (await api("GET", "/auth/me")).data;
  const me = state.me;
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
    $("#new-key").innerHTML = secretBox(r.apiKey, "Your new key is shown only once. Update your applications now.");
  };
  const billing = async (fn) => { try { const r = await fn(); if (r.data && r.data.url) location.href = r.data.url; } catch (err) { $("#billing-msg").textContent = err.message; } };
  $("#upgrade-basic").onclick = () => billing(() => api("POST", "/billing/checkout", { plan: "basic" }));
  $("#upgrade-pro").onclick = () => billing(() => api("POST", "/billing/checkout", { plan: "pro" }));
  $("#portal").onclick = () => billing(() => api("GET", "/billing/portal"));
}

if (state.key) signIn(state.key); else showAuth();
