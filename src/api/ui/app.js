// enrolsync's web page: plain JavaScript over the REST API, no build step, no third-party code.
// The API token lives in sessionStorage (gone when the tab closes) and goes out as a bearer header.
// Every value from the API is shown with textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "enrolsync.token";
const main = document.getElementById("main");
const statusLine = document.getElementById("status");
let timer = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function badge(text) { return el("span", { class: `badge ${text}`, text }); }
function when(iso) { return iso ? new Date(iso).toLocaleString() : "-"; }
function say(text) { statusLine.textContent = text; }

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (!options.signingIn) location.hash = "#/sign-in";
    throw new ApiError("the token was refused: sign in again");
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new ApiError((body && body.detail) || `HTTP ${response.status}`);
  return body;
}

function page(title, ...children) {
  main.replaceChildren(el("h1", { text: title }), ...children.filter((child) => child !== null && child !== undefined));
  document.title = `${title} - enrolsync`;
  main.focus();
}

function table(headers, rows) {
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))))));
}

// --- sign in -------------------------------------------------------------------------------------------------

function signIn() {
  const input = el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true });
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api("/pipelines?limit=1", { signingIn: true });
      location.hash = "#/pipelines";
    } catch (e) {
      error.textContent = e.message;
    }
  } }, el("label", { for: "token" }, "API token", input), el("button", { class: "action", type: "submit" }, "Sign in"));
  page("Sign in", el("p", { text: "Sign in with an API token (enrolsync token create) or an OIDC access token." }),
    form, error);
}

// --- pipelines -----------------------------------------------------------------------------------------------

async function pipelines() {
  const list = (await api("/pipelines?limit=200")).items;
  const rows = await Promise.all(list.map(async (p) => {
    const [detail, runs] = await Promise.all([api(`/pipelines/${p.id}`), api(`/pipelines/${p.id}/runs?limit=1`)]);
    const last = runs.items[0];
    const q = detail.quarantine;
    const health = q && q.quarantined_at ? badge("quarantined") : q && q.failures ? badge(`${q.failures} failed`) : badge("ok");
    return [el("a", { href: `#/pipelines/${p.id}`, text: p.name }), `v${p.version}`,
      last ? el("span", {}, badge(last.status), " ", when(last.finished_at || last.created_at)) : "never",
      p.spec.schedule || "-", health];
  }));
  page("Pipelines", list.length ? table(["Pipeline", "Version", "Last run", "Schedule", "Health"], rows)
    : el("p", { text: "No pipelines yet: create one with POST /pipelines." }));
}

async function pipeline(id) {
  const [p, runs] = await Promise.all([api(`/pipelines/${id}`), api(`/pipelines/${id}/runs?limit=20`)]);
  const start = (mode) => async () => {
    try {
      const run = await api(`/pipelines/${id}/runs`, { method: "POST", body: { mode, scope: "full" } });
      location.hash = `#/runs/${run.id}`;
    } catch (e) { say(e.message); }
  };
  const person = el("input", { id: "hr-id", name: "hr_id", required: true });
  const lookup = el("form", { class: "inline", onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/pipelines/${id}/people/${encodeURIComponent(person.value.trim())}`;
  } }, el("label", { for: "hr-id" }, "Person (HR id)", person),
  el("button", { class: "action secondary", type: "submit" }, "Show story"));
  const q = p.quarantine;
  page(p.name,
    el("p", {}, `Version ${p.version}. Schedule: ${p.spec.schedule || "none"}; full reconcile: ${p.spec.full_reconcile_schedule || "none"}.`),
    q && q.quarantined_at ? el("p", { class: "error", text: `Quarantined: ${q.reason}` }) : null,
    el("div", { class: "inline" },
      el("button", { class: "action secondary", type: "button", onclick: start("plan") }, "Dry run"), " ",
      el("button", { class: "action", type: "button", onclick: start("apply") }, "Sync now")),
    lookup,
    el("h2", { text: "Runs" }),
    table(["Run", "Status", "Mode", "Scope", "Trigger", "People", "Operations", "Created"],
      runs.items.map((r) => [el("a", { href: `#/runs/${r.id}`, text: r.id.slice(0, 8) }), badge(r.status), r.mode,
        r.scope, r.trigger, r.progress.people_read, `${r.progress.ops_applied}/${r.progress.ops_planned}`,
        when(r.created_at)])));
}

// --- one run: live progress, operations, approve, cancel -----------------------------------------------------

const ACTIVE = ["queued", "running"];
const OP_KINDS = ["create_user", "update_user", "deactivate_user", "reactivate_user", "enrol", "unenrol", "assign_role",
  "revoke_role", "set_sso_identity", "add_to_group", "remove_from_group"];

async function run(id) {
  const r = await api(`/runs/${id}`);
  const filters = { status: el("select", { id: "op-status", name: "status" }, ["", "planned", "done", "already", "failed", "not_attempted"].map((s) => el("option", { value: s, text: s || "any" }))),
    kind: el("select", { id: "op-kind", name: "kind" }, ["", ...OP_KINDS].map((k) => el("option", { value: k, text: k || "any" }))) };
  const opsBox = el("div", { id: "operations" });
  const loadOps = async () => {
    const query = new URLSearchParams({ limit: "100" });
    for (const [name, select] of Object.entries(filters)) if (select.value) query.set(name, select.value);
    const ops = (await api(`/runs/${id}/operations?${query}`)).items;
    opsBox.replaceChildren(ops.length ? table(["#", "Person", "Operation", "Status", "Error"],
      ops.map((o) => [o.seq, el("a", { href: `#/pipelines/${r.pipeline_id}/people/${encodeURIComponent(o.hr_id)}`, text: o.hr_id }),
        o.kind, badge(o.status), o.last_error || ""])) : el("p", { text: "No operations match." }));
  };
  for (const select of Object.values(filters)) select.addEventListener("change", loadOps);
  const act = (verb) => async () => {
    try { await api(`/runs/${id}/${verb}`, { method: "POST" }); say(`run ${verb === "approve" ? "approved" : "cancelled"}`); route(); }
    catch (e) { say(e.message); }
  };
  const people = el("progress", { id: "people-progress", "aria-label": "people read" });
  const ops = el("progress", { id: "ops-progress", "aria-label": "operations applied", max: Math.max(r.progress.ops_planned, 1), value: r.progress.ops_applied });
  const statusBadge = el("span", { id: "run-status" }, badge(r.status));
  const error = el("dd", { id: "run-error", text: r.error || "none" });
  const cancel = ACTIVE.includes(r.status) || r.status === "blocked"
    ? el("button", { class: "action secondary", type: "button", onclick: act("cancel") }, "Cancel run") : null;
  const counts = el("span", { id: "run-counts" });
  const show = (now) => {
    statusBadge.replaceChildren(badge(now.status));
    if (!ACTIVE.includes(now.status)) people.value = 1, people.max = 1;
    ops.max = Math.max(now.progress.ops_planned, 1);
    ops.value = now.progress.ops_applied;
    counts.textContent = `${now.progress.people_read} people read, ${now.progress.ops_applied} of ${now.progress.ops_planned} operations applied`;
  };
  show(r);
  page(`Run ${r.id.slice(0, 8)}`,
    el("p", {}, el("a", { href: `#/pipelines/${r.pipeline_id}`, text: "Back to the pipeline" })),
    el("dl", {}, el("dt", { text: "Status" }), el("dd", {}, statusBadge), el("dt", { text: "Mode, scope" }),
      el("dd", { text: `${r.mode}, ${r.scope} (${r.trigger})` }), el("dt", { text: "Progress" }), el("dd", {}, counts),
      el("dt", { text: "Error" }), error),
    el("div", { class: "meter" }, el("span", { text: "People read" }), people, el("span"),
      el("span", { text: "Operations applied" }), ops, el("span")),
    r.status === "blocked" ? el("p", {}, el("strong", { text: "Blocked: " }), r.blocked_reason || "") : null,
    el("div", { class: "inline" },
      r.status === "blocked" ? el("button", { class: "action", type: "button", onclick: act("approve") }, "Approve and apply") : null, " ",
      cancel),
    el("h2", { text: "Operations" }),
    el("form", { class: "inline", onsubmit: (e) => e.preventDefault() },
      el("label", { for: "op-status" }, "Status", filters.status), el("label", { for: "op-kind" }, "Kind", filters.kind)),
    opsBox);
  await loadOps();
  if (ACTIVE.includes(r.status)) {
    timer = setInterval(async () => {
      const now = await api(`/runs/${id}`);
      show(now);
      if (ACTIVE.includes(now.status)) return;
      clearInterval(timer);
      timer = null;
      say(`run ${now.status}`);
      // Blocked: the page gains its approve button. Otherwise stay put (focus and filters kept), refresh the rest.
      if (now.status === "blocked") return route();
      if (cancel) cancel.hidden = true;
      error.textContent = now.error || "none";
      await loadOps();
    }, 1000);
  }
}

// --- a person's sync story -------------------------------------------------------------------------------------

function leaf(l) {
  const wanted = l.expected === null || l.expected === undefined ? "" : ` ${JSON.stringify(l.expected)}`;
  const actual = l.actual === null || l.actual === undefined ? "nothing" : JSON.stringify(l.actual);
  return `${l.attr ? `${l.attr} ` : ""}${l.op}${wanted}: was ${actual} (${l.matched ? "holds" : "fails"})`;
}

async function person(pipelineId, hrId) {
  const s = await api(`/pipelines/${pipelineId}/people/${encodeURIComponent(hrId)}`);
  const name = [s.person.given_name, s.person.family_name].filter(Boolean).join(" ") || hrId;
  page(name,
    el("p", {}, el("a", { href: `#/pipelines/${pipelineId}`, text: "Back to the pipeline" })),
    el("p", {}, badge(s.sync_state), " ", s.situation_detail || s.situation),
    el("dl", {}, el("dt", { text: "HR id" }), el("dd", { text: s.hr_id }), el("dt", { text: "Account" }),
      el("dd", { text: s.account_id || "not created" }), el("dt", { text: "Department" }),
      el("dd", { text: s.person.department || "-" }), el("dt", { text: "Last error" }), el("dd", { text: s.last_error || "none" })),
    s.direct_reports.length ? el("p", {}, el("a", { href: `#/pipelines/${pipelineId}/teams/${encodeURIComponent(hrId)}`,
      text: `Team view (${s.direct_reports.length} direct reports)` })) : null,
    el("h2", { text: "Why: every rule" }),
    table(["Rule", "Matched", "Gives", "Conditions"], s.explanation.map((v) => [v.rule, v.matched ? "yes" : "no",
      [...v.enrol.map((c) => `course ${c}`), ...v.roles, ...v.groups].join(", ") || "-",
      v.leaves.map(leaf).join("; ")])),
    el("h2", { text: "Operations" }),
    table(["Run", "Operation", "Status", "Error"], s.operations.map((o) => [el("a", { href: `#/runs/${o.run_id}`, text: o.run_id.slice(0, 8) }),
      o.kind, badge(o.status), o.last_error || ""])));
}

// --- a manager's team ----------------------------------------------------------------------------------------------

async function team(pipelineId, hrId) {
  const t = await api(`/pipelines/${pipelineId}/teams/${encodeURIComponent(hrId)}?depth=2`);
  page(`Team of ${hrId}`,
    el("p", {}, el("a", { href: `#/pipelines/${pipelineId}/people/${encodeURIComponent(hrId)}`, text: "Back to the manager" })),
    table(["Person", "Level", "Job title", "Status", "Sync", "Enrolments"], t.members.map((m) => [
      el("a", { href: `#/pipelines/${pipelineId}/people/${encodeURIComponent(m.hr_id)}`, text: m.name || m.hr_id }),
      m.level, m.job_title || "-", m.status, badge(m.sync_state),
      m.enrolments.map((e) => `${e.course}${e.applied ? "" : " (pending)"}`).join(", ") || "-"])),
    t.truncated ? el("p", { text: "The team is larger than one page shows." }) : null);
}

// --- connections: check button and webhook URL ------------------------------------------------------------------

async function connections() {
  const list = (await api("/connections?limit=200")).items;
  page("Connections", table(["Connection", "Connector", "Webhook URL", "Check"], list.map((c) => {
    const result = el("span", { role: "status" });
    const check = el("button", { class: "action secondary", type: "button", onclick: async () => {
      result.textContent = "checking...";
      try { const r = await api(`/connections/${c.id}/check`, { method: "POST" }); result.textContent = `${r.ok ? "ok" : "failed"}: ${r.detail}`; }
      catch (e) { result.textContent = e.message; }
    } }, `Check ${c.name}`);
    return [c.name, c.connector, c.kind === "hris" ? el("code", { text: `${location.origin}/webhooks/${c.id}` }) : "-",
      el("span", {}, check, " ", result)];
  })));
}

// --- routing ---------------------------------------------------------------------------------------------------

async function route() {
  if (timer) { clearInterval(timer); timer = null; }
  const hash = location.hash.replace(/^#/, "") || "/pipelines";
  document.getElementById("sign-out").hidden = !token();
  if (!token() || hash === "/sign-in") return signIn();
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "runs" && parts[1]) return await run(parts[1]);
    if (parts[0] === "connections") return await connections();
    if (parts[0] === "pipelines" && parts[1] && parts[2] === "people" && parts[3]) return await person(parts[1], parts[3]);
    if (parts[0] === "pipelines" && parts[1] && parts[2] === "teams" && parts[3]) return await team(parts[1], parts[3]);
    if (parts[0] === "pipelines" && parts[1]) return await pipeline(parts[1]);
    return await pipelines();
  } catch (e) {
    page("Something went wrong", el("p", { class: "error", role: "alert", text: e.message }));
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "#/sign-in";
});
window.addEventListener("hashchange", route);
route();
