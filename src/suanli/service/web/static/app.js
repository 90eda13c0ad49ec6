/* Suanli dashboard: talks to the JSON API with the API key kept in localStorage. */
"use strict";

const KEY = "suanli.apiKey";
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "lost"]);
let pollTimer = null;

const $ = sel => document.querySelector(sel);

function showError(msg) {
  const box = $("#error");
  box.textContent = msg;
  box.hidden = !msg;
}

async function api(path, options) {
  const key = localStorage.getItem(KEY) || "";
  const opts = Object.assign({headers: {}}, options || {});
  opts.headers = Object.assign({"Authorization": "Bearer " + key}, opts.headers);
  if (opts.body && typeof opts.body !== "string") {
    opts.body = JSON.stringify(opts.body);
    opts.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(`${resp.status}: ${detail || resp.statusText}`);
  }
  return data;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "—" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

const fmt = (x, digits) => x == null ? "—" : Number(x).toFixed(digits);
const money = x => x == null ? "—"
  : (x !== 0 && Math.abs(x) < 0.01 ? Number(x).toExponential(2) : Number(x).toFixed(4));
const when = t => t == null ? "—" : new Date(t * 1000).toLocaleString();

function fill(tbody, rows, build) {
  tbody.textContent = "";
  for (const r of rows) {
    const tr = document.createElement("tr");
    build(tr, r);
    tbody.appendChild(tr);
  }
}

async function showNetwork() {
  const data = await api("/api/v1/sites");
  const sites = data.sites.slice().sort((a, b) =>
    (b.runnable ? 1 : 0) - (a.runnable ? 1 : 0) || String(a.id).localeCompare(String(b.id)));
  fill($("#sites-table tbody"), sites, (tr, s) => {
    tr.dataset.site = s.id;
    cell(tr, s.id);
    cell(tr, s.provider);
    cell(tr, s.country);
    cell(tr, Object.entries(s.devices || {}).map(([k, v]) => `${v}× ${k}`).join(", "));
    cell(tr, fmt(s.price_usd_per_device_hour, 2), "num");
    const u = cell(tr, "", "util");
    const bg = document.createElement("span");
    bg.className = "bar-bg";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(100 * (s.utilization || 0))}%`;
    bg.appendChild(bar);
    u.appendChild(bg);
    u.appendChild(document.createTextNode(`${Math.round(100 * (s.utilization || 0))}%`));
    cell(tr, s.runnable ? "yes" : "no");
  });
}

async function showJobs() {
  const data = await api("/api/v1/jobs?limit=200");
  fill($("#jobs-table tbody"), data.jobs, (tr, j) => {
    tr.className = "clickable";
    tr.dataset.job = j.id;
    tr.addEventListener("click", () => { location.hash = "#job/" + j.id; });
    cell(tr, j.id);
    cell(tr, j.name);
    cell(tr, j.state, "state " + j.state);
    cell(tr, j.site);
    cell(tr, j.cpus, "num");
    cell(tr, when(j.created_at));
    cell(tr, fmt(j.actual_duration_s, 1), "num");
    cell(tr, money(j.actual_cost_usd), "num");
  });
}

function compareRow(metric, predicted, actual, format) {
  const tds = document.querySelectorAll(`#job-compare tr[data-metric="${metric}"] td`);
  tds[0].textContent = format(predicted);
  tds[1].textContent = format(actual);
  tds[2].textContent = predicted > 0 && actual != null ? (actual / predicted).toFixed(2) : "—";
}

// train/serve jobs: each compared figure (seconds) as one more row; a missing side says why
const FIGURES = {train: ["step_time_min_s"], serve: ["ttft_s", "tpot_min_s"]};

function workloadRows(job) {
  const body = $("#job-compare tbody");
  body.querySelectorAll("tr.workload").forEach(tr => tr.remove());
  const pred = job.predicted || {}, measured = job.measured || {};
  // the measured figure in the bench's clock (one thread: CPU seconds), as the error divides
  const meas = {...measured, ...(measured.compared || {})};
  for (const fig of FIGURES[job.kind] || []) {
    const tr = document.createElement("tr");
    tr.className = "workload";
    tr.dataset.metric = fig;
    const th = document.createElement("th");
    th.textContent = fig + " (s)";
    tr.append(th);
    for (const v of [pred[fig], meas[fig]]) cell(tr, v == null ? "—" : v.toPrecision(4), "num");
    cell(tr, pred[fig] > 0 && meas[fig] != null ? (meas[fig] / pred[fig]).toFixed(2) : "—",
         "num");
    const why = [pred.absent && "predicted: " + pred.absent, meas.absent && "measured: " +
                 meas.absent].filter(Boolean).join("; ");
    if (why) tr.title = why;
    body.append(tr);
  }
}

// a job from a quote's offer: the offer it came from; its quoted time and cost are for the
// quoted workload (the model on its tokens), not for this job, so they sit here, apart from
// the predicted/actual comparison above
function offerView(job) {
  const box = $("#job-offer"), o = job.offer;
  box.hidden = !o;
  if (!o) return;
  $("#job-offer-note").textContent = o.note;
  const dl = $("#job-offer-fields");
  dl.textContent = "";
  const rows = [
    ["quote", "quote", `${o.quote_id} offer ${o.offer}`],
    ["site", "site", o.site + (o.on_quoted_site === false ? " (the job ran elsewhere!)" : "")],
    ["hardware", "hardware", `${o.devices}× ${o.hardware}` + (o.plan ? ` (${o.plan})` : "")],
    ["capability", "capability", o.capability || "declared"],
    ["workload", "quoted workload",
     Object.entries(o.workload || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["time", "quoted time (s)", fmt(o.total_s || o.run_s, 0)],
    ["cost", "quoted cost", money(o.cost_usd)],
  ];
  for (const [key, label, v] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.field = "offer-" + key;
    dd.textContent = v == null || v === "" ? "—" : String(v);
    dl.append(dt, dd);
  }
}

async function showJob(id) {
  const job = await api("/api/v1/jobs/" + encodeURIComponent(id));
  $("#job-id").textContent = job.id;
  const st = $("#job-state");
  st.textContent = job.state;
  st.className = "state " + job.state;
  $("#job-cancel").hidden = TERMINAL.has(job.state);
  compareRow("duration", job.predicted_duration_s, job.actual_duration_s, x => fmt(x, 1));
  compareRow("cost", job.predicted_cost_usd, job.actual_cost_usd, money);
  workloadRows(job);
  offerView(job);
  const dl = $("#job-fields");
  dl.textContent = "";
  for (const k of ["name", "kind", "command", "entrypoint", "site", "hardware", "cpus", "gpus",
                   "memory_mb",
                   "exit_code", "error", "created_at", "started_at", "finished_at"]) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.dataset.field = k;
    dd.textContent = k.endsWith("_at") ? when(job[k]) : (job[k] == null ? "—" : String(job[k]));
    dl.append(dt, dd);
  }
  const logs = await api(`/api/v1/jobs/${encodeURIComponent(id)}/logs?tail=500`);
  $("#job-logs").textContent = logs.logs || "";
  if (!TERMINAL.has(job.state)) pollTimer = setTimeout(() => route(), 1000);
}

async function showCharts() {
  const [sites, jobs, usage] = await Promise.all(
    [api("/api/v1/sites"), api("/api/v1/jobs?limit=1000"), api("/api/v1/usage")]);
  const runnable = sites.sites.filter(s => s.runnable);
  const gpus = runnable.reduce((a, s) => a + ((s.devices || {}).GPU || 0), 0);
  const cpus = runnable.reduce((a, s) => a + ((s.devices || {}).CPU || 0), 0);
  const unit = gpus > 0 ? "GPU" : "CPU";
  const series = utilizationSeries(jobs.jobs, unit === "GPU" ? gpus : cpus, unit,
                                   Date.now() / 1000, 120);
  lineChart($("#chart-util"), series, `share of ${unit}s busy`, 1);
  lineChart($("#chart-cost"), cumulativeCost(usage.records), "USD", null);
}

async function route() {
  clearTimeout(pollTimer);
  const hash = location.hash || "#network";
  const [view, arg] = hash.slice(1).split("/");
  document.querySelectorAll(".view").forEach(v => { v.hidden = v.id !== "view-" + view; });
  document.querySelectorAll("nav a").forEach(a => {
    a.classList.toggle("active", a.dataset.view === view || (view === "job" && a.dataset.view === "jobs"));
  });
  if (!localStorage.getItem(KEY)) {
    showError("Paste your API key (from `suanli service admin create-tenant NAME`) and save it.");
    return;
  }
  try {
    showError("");
    if (view === "network") await showNetwork();
    else if (view === "jobs") await showJobs();
    else if (view === "job") await showJob(decodeURIComponent(arg || ""));
    else if (view === "charts") await showCharts();
    document.body.dataset.loaded = hash;
  } catch (err) {
    showError(err.message);
  }
}

$("#key-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const key = $("#api-key").value.trim();
  if (key) localStorage.setItem(KEY, key); else localStorage.removeItem(KEY);
  $("#api-key").value = "";
  $("#key-state").textContent = key ? "key saved" : "key cleared";
  route();
});

$("#quote-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = {model: f.get("model"), rank: f.get("rank"), top: Number(f.get("top"))};
  body[f.get("mode")] = f.get("amount");
  try {
    showError("");
    const q = await api("/api/v1/quotes", {method: "POST", body});
    fill($("#offers-table tbody"), q.offers, (tr, o) => {
      cell(tr, q.offers.indexOf(o) + 1);
      cell(tr, o.site);
      cell(tr, o.hardware);
      cell(tr, o.devices, "num");
      cell(tr, o.plan);
      cell(tr, fmt(o.total_s / 3600, 2), "num");
      cell(tr, fmt(o.cost_usd, 2), "num");
      cell(tr, fmt(o.co2_kg, 2), "num");
      cell(tr, o.capability || "declared");
      const run = document.createElement("button");
      run.type = "button";
      run.textContent = "Run";
      run.title = "run the command below from this offer: on its site and devices, or refused";
      run.addEventListener("click", () => runOffer(q.id, q.offers.indexOf(o)));
      cell(tr, "").append(run);
    });
    $("#offers-table").dataset.quote = q.id;
  } catch (err) {
    showError(err.message);
  }
});

// submit a command job from a quote's offer: 201 opens the job; a 409 says why the offer's
// site cannot take it now and which offer of the quote can (nothing runs elsewhere)
async function runOffer(quoteId, index) {
  const command = $("#offer-command").value.trim();
  if (!command) { showError("Type the command to run from the offer first."); return; }
  try {
    showError("");
    const job = await api("/api/v1/jobs", {method: "POST", body: {
      name: "from-offer", kind: "command", command, quote_id: quoteId, offer: index}});
    location.hash = "#job/" + job.id;
  } catch (err) {
    showError(err.message);
  }
}

$("#job-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = {name: f.get("name"), kind: "command", command: f.get("command"),
                cpus: Number(f.get("cpus"))};
  if (f.get("site")) body.site = f.get("site");
  try {
    const job = await api("/api/v1/jobs", {method: "POST", body});
    location.hash = "#job/" + job.id;
  } catch (err) {
    showError(err.message);
  }
});

$("#job-cancel").addEventListener("click", async () => {
  try {
    await api(`/api/v1/jobs/${encodeURIComponent($("#job-id").textContent)}/cancel`,
              {method: "POST"});
    route();
  } catch (err) {
    showError(err.message);
  }
});

window.addEventListener("hashchange", route);
route();
