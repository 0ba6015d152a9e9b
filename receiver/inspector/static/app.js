"use strict";
(function () {
  const token = document.body.dataset.token;
  const keep = parseInt(document.body.dataset.keep, 10) || 200;
  const rows = document.getElementById("rows");
  const callFilter = document.getElementById("call-filter");
  const typeFilter = document.getElementById("type-filter");
  const types = document.getElementById("types");
  const calls = document.getElementById("calls");
  const live = document.getElementById("live");
  let selected = null;
  let pendingSelect = null;

  function statusClass(status) {
    if (!status) return "status-none";
    return status < 300 ? "status-ok" : status < 500 ? "status-refused" : "status-error";
  }

  function clock(at) {
    const d = new Date(at * 1000);
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  function rowFor(s) {
    const tr = document.createElement("tr");
    tr.dataset.id = s.id;
    tr.dataset.at = s.at;
    tr.dataset.type = s.type || "";
    tr.dataset.call = s.call_id || "";
    tr.dataset.status = s.status || "";
    tr.className = statusClass(s.status);
    const verification = s.verification + (s.reason ? " (" + s.reason + ")" : "");
    const cells = [clock(s.at), s.type || "-", s.call_id || "-", s.level || "-", verification,
      String(s.status || "-"), s.latency_ms == null ? "-" : s.latency_ms + " ms"];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      td.title = text;
      tr.appendChild(td);
    }
    return tr;
  }

  function matches(tr) {
    const call = callFilter.value.trim();
    const type = typeFilter.value.trim();
    return (!call || tr.dataset.call.includes(call)) && (!type || tr.dataset.type.includes(type));
  }

  function applyFilters() {
    for (const tr of rows.rows) tr.hidden = !matches(tr);
    drawCalls();
  }

  function drawCalls() {
    const byCall = new Map();
    for (const tr of Array.from(rows.rows).reverse()) {
      if (!tr.dataset.call || tr.hidden) continue;
      if (!byCall.has(tr.dataset.call)) byCall.set(tr.dataset.call, []);
      byCall.get(tr.dataset.call).push(tr);
    }
    calls.replaceChildren();
    const ordered = Array.from(byCall.entries()).sort(
      (a, b) => parseFloat(b[1][b[1].length - 1].dataset.at) - parseFloat(a[1][a[1].length - 1].dataset.at));
    for (const [call, trs] of ordered) {
      const line = document.createElement("div");
      line.className = "call";
      const name = document.createElement("button");
      name.type = "button";
      name.className = "call-id";
      name.textContent = call;
      name.title = "show only this call";
      name.addEventListener("click", () => { callFilter.value = call; applyFilters(); });
      line.appendChild(name);
      for (const tr of trs) {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "chip " + tr.className;
        chip.textContent = tr.dataset.type || "?";
        chip.addEventListener("click", () => show(tr.dataset.id));
        line.appendChild(chip);
      }
      calls.appendChild(line);
    }
  }

  function rememberType(type) {
    if (!type) return;
    for (const option of types.options) if (option.value === type) return;
    const option = document.createElement("option");
    option.value = type;
    types.appendChild(option);
  }

  function add(s) {
    if (rows.querySelector('tr[data-id="' + Number(s.id) + '"]')) return;
    const tr = rowFor(s);
    tr.hidden = !matches(tr);
    rows.insertBefore(tr, rows.firstChild);
    while (rows.rows.length > keep) rows.deleteRow(rows.rows.length - 1);
    rememberType(s.type);
    drawCalls();
    if (pendingSelect !== null && Number(s.id) === pendingSelect) {
      pendingSelect = null;
      show(s.id);
    }
  }

  async function show(id) {
    const answer = await fetch("/_inspect/exchanges/" + Number(id), { headers: { "accept": "application/json" } });
    const detail = await answer.json();
    const panel = document.getElementById("detail");
    if (!answer.ok) {
      document.getElementById("replay-note").textContent = detail.error || "not found";
      return;
    }
    selected = detail.id;
    for (const tr of rows.rows) tr.classList.toggle("selected", Number(tr.dataset.id) === selected);
    document.getElementById("detail-title").textContent =
      "#" + detail.id + " " + (detail.type || "(no type)") + (detail.replay_of ? " - " + detail.replay_mode + " of #" + detail.replay_of : "");
    document.getElementById("detail-meta").textContent =
      "call " + (detail.call_id || "-") + " | level " + (detail.level || "-") + " | " + detail.verification +
      (detail.reason ? " (" + detail.reason + ")" : "") + " | status " + (detail.status || "-") +
      " | " + (detail.latency_ms == null ? "-" : detail.latency_ms + " ms") + " | " + detail.body_size + " bytes";
    const headers = Object.entries(detail.headers).map(([k, v]) => k + ": " + v).join("\n");
    document.getElementById("detail-headers").textContent = headers;
    document.getElementById("detail-body").textContent =
      detail.body === null ? "(too large to keep: " + detail.body_size + " bytes)" : detail.body;
    document.getElementById("detail-answer").textContent = detail.answer || "(empty)";
    document.getElementById("replay-note").textContent = "";
    panel.hidden = false;
  }

  async function replay(mode) {
    if (selected === null) return;
    const note = document.getElementById("replay-note");
    note.textContent = "sending...";
    const answer = await fetch("/_inspect/exchanges/" + selected + "/replay?mode=" + mode, {
      method: "POST", headers: { "x-inspector-token": token } });
    const result = await answer.json();
    if (!answer.ok) { note.textContent = result.error || "refused"; return; }
    note.textContent = "sent as #" + result.id;
    if (rows.querySelector('tr[data-id="' + Number(result.id) + '"]')) show(result.id);
    else pendingSelect = Number(result.id);
  }

  rows.addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (tr) show(tr.dataset.id);
  });
  callFilter.addEventListener("input", applyFilters);
  typeFilter.addEventListener("input", applyFilters);
  document.getElementById("replay").addEventListener("click", () => replay("fresh"));
  document.getElementById("retry").addEventListener("click", () => replay("retry"));
  for (const tr of rows.rows) rememberType(tr.dataset.type);
  applyFilters();

  const events = new EventSource("/_inspect/events");
  events.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  events.addEventListener("error", () => { live.textContent = "reconnecting..."; live.className = "live"; });
  events.addEventListener("message", (event) => add(JSON.parse(event.data)));
})();
