// mmexam serve: a small code editor on a <textarea> (no dependencies, no network).
// Monospace, line numbers in a gutter, Tab indents and Shift+Tab dedents (by 4 spaces,
// on every selected line), Enter keeps the indentation. Esc releases Tab, so Tab then
// moves the keyboard focus on (the editor never traps it).
"use strict";
(function () {
  const INDENT = "    ";

  function lineStart(text, pos) { return text.lastIndexOf("\n", pos - 1) + 1; }

  function replace(area, start, end, text, selStart, selEnd) {
    area.setRangeText(text, start, end, "end");
    area.setSelectionRange(selStart, selEnd);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function indent(area, dedent) {
    const text = area.value;
    let start = area.selectionStart, end = area.selectionEnd;
    if (start === end && !dedent) {
      replace(area, start, end, INDENT, start + INDENT.length, start + INDENT.length);
      return;
    }
    const from = lineStart(text, start);
    if (end > from && text[end - 1] === "\n") end -= 1;
    const lines = text.slice(from, end).split("\n");
    let firstDelta = 0, total = 0;
    const changed = lines.map(function (line, i) {
      if (!dedent) { if (i === 0) firstDelta = INDENT.length; total += INDENT.length; return INDENT + line; }
      const cut = line.match(/^ {1,4}|^\t/);
      const n = cut ? cut[0].length : 0;
      if (i === 0) firstDelta = -n;
      total -= n;
      return line.slice(n);
    });
    const out = changed.join("\n");
    replace(area, from, end, out, Math.max(from, start + firstDelta), end + total);
  }

  function newline(area) {
    const text = area.value, start = area.selectionStart;
    const from = lineStart(text, start);
    const current = text.slice(from, start);
    let pad = current.match(/^[ \t]*/)[0];
    if (/:\s*$/.test(current)) pad += INDENT;
    replace(area, start, area.selectionEnd, "\n" + pad, start + 1 + pad.length, start + 1 + pad.length);
  }

  function attach(area) {
    const gutter = area.parentElement.querySelector(".gutter");
    let released = false;
    function numbers() {
      const count = area.value.split("\n").length;
      let out = "";
      for (let i = 1; i <= count; i++) out += i + "\n";
      gutter.textContent = out;
      gutter.scrollTop = area.scrollTop;
    }
    area.addEventListener("input", numbers);
    area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
    area.addEventListener("blur", function () { released = false; });
    area.addEventListener("keydown", function (event) {
      if (area.readOnly) return;
      if (event.key === "Escape") { released = true; return; }
      if (event.key === "Tab" && !released && !event.ctrlKey && !event.altKey && !event.metaKey) {
        event.preventDefault();
        indent(area, event.shiftKey);
      } else if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey) {
        event.preventDefault();
        newline(area);
      } else if (event.key !== "Tab") {
        released = false;
      }
    });
    numbers();
  }

  window.mmexamEditor = { attach: attach };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea.code").forEach(attach);
  });
})();
