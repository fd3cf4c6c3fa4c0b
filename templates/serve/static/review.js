// mmexam review: the slot page's keyboard and buttons. Every action is one POST to
// /api/<action> with the CSRF token; the page then reloads with the focus kept, so
// what a TA sees is always what the database holds (another TA's work included).
"use strict";
(function () {
  const meta = document.querySelector('meta[name="csrf"]');
  const csrf = meta ? meta.content : "";
  const status = document.getElementById("status");

  function say(text, error) {
    if (!status) return;
    status.textContent = text;
    status.className = error ? "error" : "";
  }

  async function post(action, body) {
    const response = await fetch("/api/" + action, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    const reply = await response.json().catch(() => ({ error: "no reply" }));
    if (!response.ok) {
      say(reply.error + (response.status === 409 ? " — reloaded with their change" : ""), true);
      sessionStorage.setItem("review-message", reply.error || "");
      if (response.status === 409) reload();
      return null;
    }
    return reply;
  }

  function focused() {
    const el = document.activeElement;
    if (el && (el.classList.contains("answer") || el.classList.contains("group"))) return el;
    return null;
  }

  function reload() {
    const el = focused();
    if (el) sessionStorage.setItem("review-focus", el.id);
    sessionStorage.setItem("review-scroll", String(window.scrollY));
    window.location.reload();
  }

  function idsOf(el) {
    return el.classList.contains("group") ? el.dataset.ids.split(" ") : [el.dataset.id];
  }

  function members(el) {
    return idsOf(el).map((id) => document.querySelector('.answer[data-id="' + CSS.escape(id) + '"]'));
  }

  async function toggle(el, n) {
    const key = el.dataset.key;
    const items = document.querySelectorAll('.rubric[data-key="' + CSS.escape(key) + '"] .rubric-item');
    if (n < 1 || n > items.length) return;
    const rid = items[n - 1].dataset.rubric;
    const has = members(el).every((a) => a.dataset.applied.split(" ").includes(rid));
    if (await post("toggle", { ids: idsOf(el), rubric: Number(rid), on: !has })) reload();
  }

  function move(selector, step) {
    const all = Array.from(document.querySelectorAll(selector));
    if (!all.length) return;
    const current = focused();
    let at = -1;
    if (current) {
      at = all.indexOf(current);
      if (at < 0) {
        // from a group to its first answer (j) or from an answer to the next group (g)
        at = all.findIndex((el) => current.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) - (step > 0 ? 1 : 0);
        if (at < -1) at = all.length - 1;
      }
    }
    const next = all[Math.min(Math.max(at + step, 0), all.length - 1)];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }

  async function onKey(event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || event.ctrlKey || event.metaKey || event.altKey) return;
    const el = focused();
    const key = event.key;
    if (key === "j") move(".answer", 1);
    else if (key === "k") move(".answer", -1);
    else if (key === "g") move(".group", 1);
    else if (key === "G") move(".group", -1);
    else if (el && /^[1-9]$/.test(key)) await toggle(el, Number(key));
    else if (el && key === "0") { if (await post("grade", { ids: idsOf(el), graded: true })) reload(); }
    else if (el && key === "u") { if (await post("grade", { ids: idsOf(el), graded: false })) reload(); }
    else if (el && key === "c") {
      const group = el.closest(".group");
      if (group && (await post("confirm", { group: group.dataset.group }))) reload();
    } else if (el && key === "s" && el.classList.contains("answer")) {
      if (await post("split", { id: el.dataset.id })) reload();
    } else return;
    event.preventDefault();
  }

  async function onClick(event) {
    const button = event.target.closest("button");
    if (!button || button.type === "submit") return;
    const answer = button.closest(".answer");
    const item = button.closest(".rubric-item");
    if (button.classList.contains("rubric-save")) {
      const rid = button.dataset.rubric;
      const reply = await post("rubric-edit", {
        id: Number(rid),
        version: Number(item.dataset.version),
        points: document.getElementById("rubric-points-" + rid).value,
        description: document.getElementById("rubric-text-" + rid).value,
      });
      if (reply) {
        sessionStorage.setItem("review-message", "Re-scored " + reply.answers.length + " answer(s); " + reply.changed.length + " student total(s) changed.");
        reload();
      }
    } else if (button.classList.contains("rubric-move")) {
      if (await post("rubric-move", { id: Number(button.dataset.rubric), delta: Number(button.dataset.delta) })) reload();
    } else if (button.classList.contains("rubric-add-button")) {
      const row = button.closest(".rubric-add");
      const reply = await post("rubric-add", {
        key: button.dataset.key,
        points: row.querySelector(".add-points").value,
        description: row.querySelector(".add-text").value,
      });
      if (reply) reload();
    } else if (button.classList.contains("confirm")) {
      if (await post("confirm", { group: button.dataset.group })) reload();
    } else if (answer && button.classList.contains("save-note")) {
      const reply = await post("note", {
        id: answer.dataset.id,
        version: Number(answer.dataset.version),
        adjust: answer.querySelector(".adjust").value || 0,
        comment: answer.querySelector(".comment").value,
      });
      if (reply) { answer.focus(); reload(); }
    } else if (answer && button.classList.contains("split")) {
      answer.focus();
      if (await post("split", { id: answer.dataset.id })) reload();
    }
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
  const keep = sessionStorage.getItem("review-focus");
  const message = sessionStorage.getItem("review-message");
  const scroll = sessionStorage.getItem("review-scroll");
  sessionStorage.removeItem("review-focus");
  sessionStorage.removeItem("review-message");
  sessionStorage.removeItem("review-scroll");
  if (scroll) window.scrollTo(0, Number(scroll));
  if (keep && document.getElementById(keep)) document.getElementById(keep).focus({ preventScroll: true });
  if (message) say(message, false);
  document.body.dataset.ready = "1";
})();
