// Zhima Console: the little JavaScript the pages use. No inline scripts, no eval (CSP).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // -- Live regions: poll [data-poll] elements, fast while the tab is visible and at the
  // upstream's cadence while it is hidden: a tester waits for a code in another tab, and the
  // alert must still reach them. The clock runs in a worker where the browser allows it,
  // because a hidden page's own timers are throttled to once a minute after a few minutes.
  const HIDDEN_EVERY = 5000;
  // Keyed by the region's id: a swap replaces the element, and the new one must not poll at once.
  const lastPoll = new Map();
  function pollKey(el) { return el.id || el.getAttribute("hx-get") || ""; }
  function pollTick() {
    if (!window.htmx) return;
    const hidden = document.visibilityState !== "visible";
    const now = Date.now();
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      let every = parseInt(el.dataset.poll, 10) || 1000;
      if (hidden) every = Math.max(every, HIDDEN_EVERY);
      if (now - (lastPoll.get(pollKey(el)) || 0) < every || el.classList.contains("htmx-request")) return;
      // Do not redraw a list while the user is selecting rows in it.
      if (el.hasAttribute("data-keep-checked") && el.querySelector("input:checked")) return;
      lastPoll.set(pollKey(el), now);
      window.htmx.trigger(el, "poll");
    });
  }
  const tickerUrl = document.currentScript && document.currentScript.dataset.ticker;
  if (tickerUrl && window.Worker) {
    try { new Worker(tickerUrl).onmessage = pollTick; } catch (e) { /* the page's timer below */ }
  }
  setInterval(pollTick, 250);

  // -- The menu on a phone: folded behind its button (CSS shows it whole on wider screens) -----
  document.addEventListener("click", function (ev) {
    const toggle = ev.target.closest(".menu-toggle");
    if (!toggle) return;
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("keydown", function (ev) {
    const toggle = document.querySelector(".menu-toggle[aria-expanded='true']");
    if (ev.key === "Escape" && toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
  });

  // -- Copy buttons --------------------------------------------------------------------------------
  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    const text = btn.dataset.copy;
    const done = function () {
      const note = btn.parentElement.querySelector(".copied");
      if (note) { note.hidden = false; setTimeout(function () { note.hidden = true; }, 2000); }
      btn.dataset.copied = "1";
      if (btn.dataset.done) {
        if (!btn.dataset.label) btn.dataset.label = btn.textContent;
        btn.textContent = btn.dataset.done;
      }
      setTimeout(function () {
        delete btn.dataset.copied;
        if (btn.dataset.label) btn.textContent = btn.dataset.label;
      }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { if (legacyCopy(text)) done(); });
    } else if (legacyCopy(text)) { done(); }
  });
  // Plain http on a LAN address is not a secure context: no clipboard API there.
  function legacyCopy(text) {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "offscreen";
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  // -- Selects that submit their form on change ----------------------------------------------------
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-autosubmit]")) ev.target.form.requestSubmit();
  });

  // -- When a code arrives: the tab title always; sound and desktop notification when opted in -----
  // The opt-in is remembered per browser; the permission is asked on the user's click (browsers
  // refuse a prompt that no click asked for), and so is the audio unlocked.
  const KEY = "zhima-notify";
  const ALERTED = "zhima-alerted";
  function notifyOn() { return localStorage.getItem(KEY) === "1"; }
  function labelToggle(btn) {
    btn.setAttribute("aria-pressed", notifyOn() ? "true" : "false");
    btn.classList.toggle("on", notifyOn());
    const blocked = document.getElementById("notify-blocked");
    if (blocked) {
      blocked.hidden = !(notifyOn() && "Notification" in window && Notification.permission === "denied");
    }
  }
  let audio = null;
  function unlockAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) audio = new Ctx();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }
  function beep() {
    const ctx = unlockAudio();
    if (!ctx) return;
    [0, 0.18].forEach(function (at, i) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = i ? 1175 : 880;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.14);
    });
  }
  // A page opened after the opt-in may play sound once the user has touched it.
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, function () { if (notifyOn()) unlockAudio(); }, { once: true });
  });

  const seen = new Set();
  const baseTitle = document.title;
  let titleCodes = [];
  let titleTimer = null;
  // Every code on the page is an element with data-code; data-code-key names it (lease:code), so
  // the same code in two lists of one page, or a redraw, is not a new arrival.
  function scanCodes(announceNew) {
    const fresh = [];
    document.querySelectorAll("[data-code]").forEach(function (el) {
      const code = el.dataset.code;
      if (!code) return;
      const key = el.dataset.codeKey || location.pathname + ":" + code;
      if (seen.has(key)) return;
      seen.add(key);
      fresh.push({ key: key, code: code, phone: el.dataset.phone || "", item: el.dataset.item || "", el: el });
    });
    if (announceNew && fresh.length) announce(fresh);
  }
  // Two tabs of the console both see a code; only the first one rings.
  function firstToAlert(fresh) {
    let done = {};
    try { done = JSON.parse(localStorage.getItem(ALERTED) || "{}"); } catch (e) { done = {}; }
    const now = Date.now();
    Object.keys(done).forEach(function (k) { if (now - done[k] > 600000) delete done[k]; });
    const mine = fresh.filter(function (f) { return !done[f.key]; });
    mine.forEach(function (f) { done[f.key] = now; });
    try { localStorage.setItem(ALERTED, JSON.stringify(done)); } catch (e) { /* private mode */ }
    return mine;
  }
  function announce(fresh) {
    // Screen readers: one sentence per arrival in the page's standing live region.
    const announcer = document.getElementById("announcer");
    if (announcer) {
      const say = announcer.dataset.say || "New code %(code)s for %(phone)s";
      announcer.textContent = fresh.map(function (f) {
        return say.replace("%(code)s", f.code.split("").join(" ")).replace("%(phone)s", f.phone);
      }).join(". ");
    }
    fresh.forEach(function (f) {
      const row = f.el.closest("tr, li, #lease");
      if (row) row.classList.add("flash");
    });
    titleCodes = fresh.map(function (f) { return f.code; }).concat(titleCodes).slice(0, 3);
    document.title = titleCodes.join(" · ") + " — " + baseTitle;
    keepTitleWhileAway();
    const mine = firstToAlert(fresh);
    if (!mine.length || !notifyOn()) return;
    beep();
    const away = document.visibilityState !== "visible" || !document.hasFocus();
    if (away && "Notification" in window && Notification.permission === "granted") {
      const body = mine.length === 1
        ? [mine[0].phone, mine[0].item].filter(Boolean).join(" · ")
        : mine.map(function (f) { return f.phone; }).join(", ");
      const n = new Notification(mine.map(function (f) { return f.code; }).join(" · "), { body: body, tag: "zhima-code" });
      n.onclick = function () { window.focus(); n.close(); };
    }
  }
  // The codes stay in the title while the tab is away, and 15 s after the user is back.
  function keepTitleWhileAway() {
    clearTimeout(titleTimer);
    if (titleCodes.length && document.visibilityState === "visible") {
      titleTimer = setTimeout(function () { titleCodes = []; document.title = baseTitle; }, 15000);
    }
  }
  document.addEventListener("visibilitychange", function () { keepTitleWhileAway(); pollTick(); });
  // The alert opt-in is for a page that still waits for something: once nothing on it is
  // live (the lease, or every number of the board, has ended) it goes.
  function hideAlertsWhenDone() {
    if (document.querySelector("[data-poll]")) return false;
    ["notify-toggle", "notify-blocked"].forEach(function (id) {
      const el = document.getElementById(id);
      if (el) el.hidden = true;
    });
    return true;
  }
  document.addEventListener("htmx:afterSwap", function () { scanCodes(true); hideAlertsWhenDone(); });

  document.addEventListener("DOMContentLoaded", function () {
    scanCodes(false);
    const btn = document.getElementById("notify-toggle");
    if (btn && !hideAlertsWhenDone() && ("Notification" in window || window.AudioContext)) {
      btn.hidden = false;
      labelToggle(btn);
      btn.addEventListener("click", function () {
        const on = !notifyOn();
        localStorage.setItem(KEY, on ? "1" : "0");
        if (on) {
          beep();  // the click unlocks the audio, and the user hears what a code sounds like
          if ("Notification" in window && Notification.permission === "default") {
            Notification.requestPermission().then(function () { labelToggle(btn); });
          }
        }
        labelToggle(btn);
      });
    }
    drawSpendChart();
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

// == Lease progress ===============================================================================
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
