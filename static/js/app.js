// Zhima Console: the little JavaScript the pages use. No inline scripts, no eval (CSP).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // -- Live regions: poll [data-poll] elements while the tab is visible --------------------------
  const lastPoll = new WeakMap();
  function pollTick() {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    const now = Date.now();
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      const every = parseInt(el.dataset.poll, 10) || 1000;
      if (now - (lastPoll.get(el) || 0) < every || el.classList.contains("htmx-request")) return;
      // Do not redraw a list while the user is selecting rows in it.
      if (el.hasAttribute("data-keep-checked") && el.querySelector("input:checked")) return;
      lastPoll.set(el, now);
      window.htmx.trigger(el, "poll");
    });
  }
  setInterval(pollTick, 250);
  document.addEventListener("visibilitychange", pollTick);

  // -- Copy buttons --------------------------------------------------------------------------------
  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    const text = btn.dataset.copy;
    const done = function () {
      const note = btn.parentElement.querySelector(".copied");
      if (note) { note.hidden = false; setTimeout(function () { note.hidden = true; }, 2000); }
      btn.dataset.copied = "1";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectCode(); });
    } else { selectCode(); done(); }
  });
  function selectCode() {
    const el = document.getElementById("code");
    if (!el) return;
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { document.execCommand("copy"); } catch (e) { /* the code stays selected */ }
  }

  // -- Selects that submit their form on change ----------------------------------------------------
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-autosubmit]")) ev.target.form.requestSubmit();
  });

  // -- Opt-in notification and sound when a code arrives -------------------------------------------
  const KEY = "zhima-notify";
  function notifyOn() { return localStorage.getItem(KEY) === "1"; }
  function labelToggle(btn) {
    btn.setAttribute("aria-pressed", notifyOn() ? "true" : "false");
    btn.classList.toggle("on", notifyOn());
  }
  function beep() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    const ctx = new Ctx();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.25);
  }
  document.addEventListener("DOMContentLoaded", function () {
    const btn = document.getElementById("notify-toggle");
    if (btn && ("Notification" in window || window.AudioContext)) {
      btn.hidden = false;
      labelToggle(btn);
      btn.addEventListener("click", function () {
        const on = !notifyOn();
        localStorage.setItem(KEY, on ? "1" : "0");
        if (on && "Notification" in window && Notification.permission === "default") {
          Notification.requestPermission();
        }
        labelToggle(btn);
      });
    }
    drawSpendChart();
  });
  let lastCode = null;
  document.addEventListener("htmx:beforeSwap", function (ev) {
    const el = ev.detail.target;
    if (el && el.id === "lease") lastCode = el.dataset.code || "";
  });
  document.addEventListener("htmx:afterSwap", function () {
    const el = document.getElementById("lease");
    if (!el || lastCode === null) return;
    const code = el.dataset.code || "";
    if (code && code !== lastCode) {
      el.classList.add("flash");
      if (notifyOn()) {
        beep();
        if ("Notification" in window && Notification.permission === "granted") {
          new Notification(code, { body: document.title });
        }
      }
    }
    lastCode = null;
  });

  // -- The spend chart -----------------------------------------------------------------------------
  function drawSpendChart() {
    const canvas = document.getElementById("spend-chart");
    const data = document.getElementById("spend-data");
    if (!canvas || !data || !window.Chart) return;
    const d = JSON.parse(data.textContent);
    new window.Chart(canvas, {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: d.leases_label, data: d.leases, yAxisID: "n", backgroundColor: "#9cc3e6" },
          { type: "line", label: d.cost_label, data: d.cost, yAxisID: "c", borderColor: "#b4540a", tension: 0.2 },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { n: { position: "left", beginAtZero: true }, c: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } },
      },
    });
  }
})();

// == Lease progress (issue 11 §6) ==================================================================
// A submit button with data-progress="… {s} s" shows the seconds elapsed while its form's
// request runs (the upstream may take many seconds to lease); the paragraph .lease-progress
// beside it says the request is sent once. Self-contained: it only reads data-progress.
(function () {
  "use strict";
  const running = new WeakMap();
  function stop(form) {
    const run = running.get(form);
    if (!run) return;
    clearInterval(run.timer);
    running.delete(form);
    run.btn.textContent = run.label;
    run.btn.removeAttribute("aria-busy");
    if (run.note) run.note.hidden = true;
  }
  function start(form) {
    const btn = form.querySelector("button[data-progress]");
    if (!btn || running.has(form)) return;
    const run = { btn: btn, label: btn.textContent, note: form.querySelector(".lease-progress"), t0: Date.now() };
    const tick = function () {
      if (!document.contains(btn)) { clearInterval(run.timer); running.delete(form); return; }
      const s = Math.floor((Date.now() - run.t0) / 1000);
      btn.textContent = btn.dataset.progress.replace("{s}", String(s));
    };
    btn.setAttribute("aria-busy", "true");
    if (run.note) run.note.hidden = false;
    running.set(form, run);
    tick();
    run.timer = setInterval(tick, 250);
  }
  document.addEventListener("submit", function (ev) {
    if (ev.target instanceof HTMLFormElement) start(ev.target);
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    const form = ev.detail.elt;
    if (!(form instanceof HTMLFormElement) || !running.has(form)) return;
    // A redirect leaves the page: keep counting until it does.
    const xhr = ev.detail.xhr;
    if (ev.detail.successful && xhr && xhr.getResponseHeader("HX-Redirect")) return;
    stop(form);
  });
})();
// == end of lease progress ==========================================================================
