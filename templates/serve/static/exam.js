// mmexam serve: the online paper's client. Saves every change as the student types,
// keeps unsent changes in this browser (localStorage) through network outages and
// reloads, and sends them, oldest first, when the server answers again. The server's
// clock is the only one that counts: it refuses writes after the deadline, and this
// page only mirrors that. Plain JavaScript, no dependencies, nothing from a CDN.
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("mmexam-state").textContent);
  const readonly = boot.readonly;
  const storeKey = "mmexam-queue:" + boot.student;
  let state = boot.state;
  let offset = state.now * 1000 - Date.now(); // server clock minus this clock, in ms
  let pending = load(); // key -> {value, seq}: changes not yet acknowledged by the server
  let seq = Object.values(pending).reduce(function (m, c) { return Math.max(m, c.seq); }, 0);
  let inFlight = false, offline = false, failure = null, lastSaved = null;
  let retryDelay = 1000, retryTimer = null, typingTimer = null;

  const $ = function (id) { return document.getElementById(id); };
  const statusEl = $("mmexam-status"), clockEl = $("mmexam-clock");

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { return {}; }
  }
  function persist() {
    try { localStorage.setItem(storeKey, JSON.stringify(pending)); } catch (e) { /* full: kept in memory */ }
  }
  function count() { return Object.keys(pending).length; }

  // ---------------------------------------------------------------- fields
  function valueOf(el) {
    if (el.tagName === "FIELDSET") {
      const boxes = Array.from(el.querySelectorAll("input"));
      const on = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      return el.dataset.kind === "multi_select" ? on : (on[0] || "");
    }
    return el.value;
  }
  function setValue(el, value) {
    if (el.tagName === "FIELDSET") {
      const chosen = Array.isArray(value) ? value : [value];
      el.querySelectorAll("input").forEach(function (b) { b.checked = chosen.indexOf(b.value) >= 0; });
    } else {
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: false }));
    }
  }
  function fieldFor(key) {
    return Array.from(document.querySelectorAll("[data-key]")).find(function (el) {
      return el.dataset.key === key && !el.classList.contains("clear-choice");
    });
  }

  function changed(el, now) {
    if (readonly || state.locked) return;
    const key = el.dataset.key;
    pending[key] = { value: valueOf(el), seq: ++seq };
    persist();
    clearTimeout(typingTimer);
    if (now) flush(); else typingTimer = setTimeout(flush, 700);
    show();
  }

  // ---------------------------------------------------------------- saving
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": boot.csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    return { status: response.status, data: data };
  }

  async function flush() {
    if (inFlight || readonly) return;
    const keys = Object.keys(pending).sort(function (a, b) { return pending[a].seq - pending[b].seq; });
    if (!keys.length) { show(); return; }
    inFlight = true;
    const sent = {};
    const changes = keys.map(function (k) { sent[k] = pending[k].seq; return { key: k, value: pending[k].value }; });
    let result = null;
    try {
      result = await post("/api/save", { changes: changes });
    } catch (e) {
      result = null; // the network is down, or the server is
    }
    inFlight = false;
    if (result === null || result.status >= 500) {
      offline = true;
      retryTimer = setTimeout(flush, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
      show();
      return;
    }
    offline = false; retryDelay = 1000; clearTimeout(retryTimer);
    if (result.status === 200) {
      failure = null;
      keys.forEach(function (k) { if (pending[k] && pending[k].seq === sent[k]) delete pending[k]; });
      persist();
      lastSaved = Date.now();
      readings(result.data.readings || {});
      update(result.data.state);
      if (count()) flush();
    } else if (result.status === 401) {
      failure = "You are logged out: log in again (in this browser) — your " + count() + " unsaved changes are kept here";
    } else if (result.status === 403 || result.status === 409) {
      failure = result.data.error || "Refused by the server";
      if (result.data.state) { pending = {}; persist(); update(result.data.state); }
    } else {
      failure = (result.data.error || ("Error " + result.status)) + " — this change was not saved";
      keys.forEach(function (k) { if (pending[k] && pending[k].seq === sent[k]) delete pending[k]; });
      persist();
    }
    show();
  }

  function readings(map) {
    Object.keys(map).forEach(function (key) {
      const out = document.getElementById("r-" + key);
      if (!out) return;
      out.textContent = map[key] === null ? "not a number: it will be graded as written" : "read as " + map[key];
    });
  }

  // ---------------------------------------------------------------- clock and status
  function update(next) {
    if (!next) return;
    state = next;
    offset = state.now * 1000 - Date.now();
    if (state.locked) lock();
  }

  function lock() {
    document.querySelectorAll("[data-key]").forEach(function (el) {
      if (el.tagName === "FIELDSET") el.querySelectorAll("input").forEach(function (b) { b.disabled = true; });
      else if (el.tagName === "BUTTON") el.disabled = true;
      else el.readOnly = true;
    });
    document.querySelectorAll("button.run-checks, #mmexam-submit").forEach(function (b) { b.disabled = true; });
    const note = $("mmexam-locked");
    if (note) {
      note.hidden = false;
      const how = state.submitted_how === "deadline" ? " automatically at the deadline" : "";
      note.innerHTML = "";
      const p = document.createElement("p");
      const strong = document.createElement("strong");
      strong.textContent = state.submitted ? "Your paper was submitted" + how + "." : "The exam is over; your paper can no longer be changed.";
      p.appendChild(strong);
      if (state.receipt) {
        p.appendChild(document.createTextNode(" Receipt: "));
        const code = document.createElement("code");
        code.className = "receipt"; code.id = "mmexam-receipt"; code.textContent = state.receipt;
        p.appendChild(code);
      }
      note.appendChild(p);
    }
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function show() {
    const n = count();
    let text, cls = "";
    if (state.submitted) text = "Submitted";
    else if (state.locked) text = "The exam is over";
    else if (failure) { text = failure; cls = "error"; }
    else if (offline) { text = "Offline — " + n + (n === 1 ? " change" : " changes") + " waiting"; cls = "offline"; }
    else if (n || inFlight) text = "Saving…";
    else if (lastSaved) text = "Saved " + Math.round((Date.now() - lastSaved) / 1000) + " s ago";
    else text = "All changes saved";
    if (statusEl.textContent !== text) statusEl.textContent = text;
    statusEl.className = "save-status " + cls;
    const left = Math.max(0, Math.floor((state.deadline * 1000 - (Date.now() + offset)) / 1000));
    clockEl.textContent = state.locked ? "Ended at " + state.deadline_text
      : "Time left " + Math.floor(left / 3600) + ":" + two(Math.floor(left / 60) % 60) + ":" + two(left % 60) + " (ends " + state.deadline_text + ")";
  }

  let polling = false;
  async function tick() {
    show();
    const left = state.deadline * 1000 - (Date.now() + offset);
    if (!readonly && left <= 0 && !state.submitted && !polling) {
      polling = true;
      try {
        const response = await fetch("/api/state", { credentials: "same-origin" });
        if (response.ok) update(await response.json());
      } catch (e) { /* offline: try again next tick */ }
      setTimeout(function () { polling = false; }, 3000);
    }
  }

  // ---------------------------------------------------------------- public checks
  async function runChecks(button) {
    const task = button.dataset.task;
    const area = fieldFor(boot.prefix + task + ".py");
    const status = $("check-status-" + task), out = $("check-results-" + task);
    button.disabled = true;
    status.textContent = "Sending your code…";
    let result = null;
    try { result = await post("/api/check", { task: task, source: area.value }); } catch (e) { result = null; }
    if (result === null) { status.textContent = "Offline: the checks need the server. Your code is kept and saved when you reconnect."; button.disabled = state.locked; changed(area, false); return; }
    if (result.status !== 202) { status.textContent = result.data.error || ("Error " + result.status); button.disabled = state.locked; if (result.data.state) update(result.data.state); return; }
    if (pending[area.dataset.key] && pending[area.dataset.key].value === area.value) { delete pending[area.dataset.key]; persist(); }
    lastSaved = Date.now();
    status.textContent = "Queued (" + result.data.waiting + " waiting)…";
    await poll(task, result.data.run, status, out);
    button.disabled = state.locked;
  }

  async function poll(task, run, status, out) {
    for (;;) {
      await new Promise(function (r) { setTimeout(r, 800); });
      let data = null;
      try {
        const response = await fetch("/api/check/" + encodeURIComponent(task), { credentials: "same-origin" });
        if (response.ok) data = await response.json();
      } catch (e) { data = null; }
      if (!data || data.id !== run) { status.textContent = "Waiting for the server…"; continue; }
      if (data.status === "queued") { status.textContent = "Queued…"; continue; }
      if (data.status === "running") { status.textContent = "Running the public checks…"; continue; }
      status.textContent = data.status === "done" ? "Checked." : "The checks could not run.";
      render(out, data);
      return;
    }
  }

  function render(out, data) {
    out.innerHTML = "";
    if (data.status !== "done") {
      const p = document.createElement("p"); p.textContent = data.message || "failed"; out.appendChild(p); return;
    }
    const r = data.result;
    const ran = r.checks.filter(function (c) { return !c.skipped; });
    const passed = ran.filter(function (c) { return c.passed; }).length;
    const summary = document.createElement("p");
    summary.className = "summary";
    summary.textContent = "Public checks of " + r.filename + ": " + passed + " of " + ran.length + " passed (" + r.score + " / " + r.max_score + " check points).";
    out.appendChild(summary);
    if (r.load_error) { const p = document.createElement("pre"); p.textContent = "could not load the file: " + r.load_error; out.appendChild(p); }
    const list = document.createElement("ul");
    r.checks.forEach(function (c) {
      const li = document.createElement("li");
      li.className = c.skipped ? "skipped" : (c.passed ? "passed" : "failed");
      li.textContent = c.name + " — " + (c.skipped ? "skipped" : (c.passed ? "passed" : "FAILED")) + " (" + c.score + "/" + c.max_score + ")";
      if (!c.passed && c.message) { const pre = document.createElement("pre"); pre.textContent = c.message; li.appendChild(pre); }
      list.appendChild(li);
    });
    out.appendChild(list);
  }

  // ---------------------------------------------------------------- submit
  async function submit(button) {
    const result = $("mmexam-submit-result");
    if (!window.confirm("Submit your paper now? You cannot change it afterwards.")) return;
    button.disabled = true;
    await flush();
    for (let i = 0; i < 20 && (count() || inFlight) && !offline; i++) {
      await new Promise(function (r) { setTimeout(r, 250); });
      await flush();
    }
    if (count()) {
      result.textContent = "Not submitted: " + count() + " changes are not saved yet (offline?). Reconnect and try again.";
      button.disabled = false;
      return;
    }
    let answer = null;
    try { answer = await post("/api/submit", { confirm: true }); } catch (e) { answer = null; }
    if (answer === null) { result.textContent = "Not submitted: the server cannot be reached. Try again."; button.disabled = false; return; }
    if (answer.status === 200) {
      update(answer.data.state);
      result.textContent = "Submitted. Your receipt: " + answer.data.receipt;
    } else {
      result.textContent = answer.data.error || ("Error " + answer.status);
      if (answer.data.state) update(answer.data.state);
      button.disabled = state.locked;
    }
    show();
  }

  // ---------------------------------------------------------------- wiring
  document.addEventListener("DOMContentLoaded", function () {
    Object.keys(boot.runs || {}).forEach(function (task) {
      const out = $("check-results-" + task);
      if (out) render(out, boot.runs[task]);
    });
    if (readonly) { show(); return; }
    document.querySelectorAll("[data-key]").forEach(function (el) {
      if (el.classList.contains("clear-choice")) {
        el.addEventListener("click", function () {
          const field = fieldFor(el.dataset.key);
          field.querySelectorAll("input").forEach(function (b) { b.checked = false; });
          changed(field, true);
        });
      } else if (el.tagName === "FIELDSET") {
        el.addEventListener("change", function () { changed(el, true); });
      } else {
        el.addEventListener("input", function (event) { if (event.isTrusted || event.bubbles) changed(el, false); });
        el.addEventListener("blur", function () { if (pending[el.dataset.key]) flush(); });
      }
    });
    document.querySelectorAll("button.run-checks").forEach(function (b) {
      b.addEventListener("click", function () { runChecks(b); });
    });
    const submitButton = $("mmexam-submit");
    if (submitButton) submitButton.addEventListener("click", function () { submit(submitButton); });
    window.addEventListener("online", function () { retryDelay = 1000; flush(); });
    window.addEventListener("offline", function () { offline = true; show(); });
    // changes this browser had not sent (an outage, then a reload): put them back and send them
    Object.keys(pending).forEach(function (key) {
      const el = fieldFor(key);
      if (el) setValue(el, pending[key].value); else delete pending[key];
    });
    persist();
    if (state.locked) lock();
    setInterval(tick, 1000);
    show();
    flush();
  });
  window.mmexamStatus = function () { return { pending: count(), offline: offline, inFlight: inFlight, failure: failure }; };
})();
