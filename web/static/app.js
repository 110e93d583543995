/* rig: shared client code. The status stream (SSE), API calls with CSRF, toasts, confirm dialogs. */
"use strict";

const rig = {
  csrf: document.querySelector('meta[name="csrf"]').content,
  status: null,
  control: null,
  merge: null,
  run: null,
  system: null,  // battery, clock, field-kit mode (GET /api/system's summary; the stream's "system")
  handlers: {},
  connected: false,

  $(sel, root) { return (root || document).querySelector(sel); },
  $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); },
  el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  },

  on(kind, fn) { (this.handlers[kind] = this.handlers[kind] || []).push(fn); },
  emit(kind, data) { for (const fn of this.handlers[kind] || []) { try { fn(data); } catch (e) { console.error(e); } } },

  toast(text, bad) {
    const t = this.el("div", { class: "toast" + (bad ? " bad" : ""), role: "status", text });
    this.$("#toasts").append(t);
    setTimeout(() => t.remove(), bad ? 7000 : 3500);
  },

  confirm(text, okLabel, danger) {
    const d = this.$("#confirm");
    this.$("#confirm-text").textContent = text;
    const yes = this.$("#confirm-yes"), no = this.$("#confirm-no");
    yes.textContent = okLabel || "OK";
    yes.className = danger ? "stop" : "primary";
    return new Promise((resolve) => {
      const done = (v) => { yes.onclick = no.onclick = null; d.close(); resolve(v); };
      yes.onclick = () => done(true);
      no.onclick = () => done(false);
      d.oncancel = () => done(false);
      d.showModal();
    });
  },

  /* One API call. Resolves to {ok, status, data}; shows a toast on errors unless quiet. */
  async api(method, url, body, opts) {
    opts = opts || {};
    const init = { method, headers: { "X-CSRF-Token": this.csrf }, credentials: "same-origin" };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let res, data;
    try {
      res = await fetch(url, init);
      data = await res.json().catch(() => ({}));
    } catch (e) {
      if (!opts.quiet) this.toast("The rig did not answer: " + e.message, true);
      return { ok: false, status: 0, data: { error: String(e) } };
    }
    if (res.status === 403 && data.code === "csrf" && !opts.retried) {
      const s = await fetch("/api/session").then((r) => r.json()).catch(() => null);
      if (s && s.csrf) { this.csrf = s.csrf; return this.api(method, url, body, { ...opts, retried: true }); }
    }
    if (res.status === 409 && data.code === "control" && !opts.retried) {
      // taking control is its own tap: the command that asked is not sent with it (press it again)
      const take = await this.confirm(data.error + ".", "Take over");
      if (take) {
        const t = await this.api("POST", "/api/control", { action: "take", force: true }, { retried: true });
        if (t.ok) { this.setControl(t.data); this.toast("You have control now. Press the button again to do it."); }
      }
      return { ok: false, status: res.status, data };
    }
    if (!res.ok && !opts.quiet) this.toast(data.error || res.status + " " + res.statusText, true);
    if (data && data.status && data.control) this.apply(data);
    return { ok: res.ok, status: res.status, data };
  },

  /* The status and the control lock arrive from two places: the stream, and the answer to this
     page's own commands, which can land after a newer stream event (POST /api/cancel answers
     "settling" while the stream has already said "idle"). Each carries a revision; an older
     one than shown is dropped. A stream's snapshot (fresh) is taken as it is. */
  older(cur, rev) { return typeof cur === "number" && typeof rev === "number" && rev < cur; },

  apply(snap, fresh) {
    const stale = !fresh && snap.status && this.older(this.status && this.status.rev, snap.status.rev);
    if ("run" in snap && !stale) this.run = snap.run;  // the running stack's settings (null when none runs)
    if (snap.control) this.setControl(snap.control, fresh);
    if ("merge" in snap) { this.merge = snap.merge; this.emit("merge", snap.merge); }
    if (snap.status && !stale) this.setStatus(snap.status, true);
  },

  setStatus(s, fresh) {
    if (!fresh && this.older(this.status && this.status.rev, s.rev)) return;
    this.status = s;
    const chip = this.$("#state-chip");
    chip.textContent = s.state === "idle" && s.outcome ? "idle · " + s.outcome : s.state;
    chip.className = "chip " + (s.state === "fault" ? "fault" : s.busy ? "busy" : "idle");
    const fb = this.$("#fault-banner");
    fb.classList.toggle("hidden", s.state !== "fault");
    if (s.state === "fault") this.$("#fault-text").textContent = s.error || "unknown";
    this.emit("status", s);
  },

  setControl(c, fresh) {
    if (!fresh && this.older(this.control && this.control.version, c.version)) return;
    const had = this.control && this.control.mine;
    this.control = c;
    if (had && !c.mine && c.held) this.toast(c.holder + " took control of the rig", true);  // told, not silent
    const box = this.$("#control");
    box.replaceChildren();
    box.title = c.held ? c.holder + " has control" + (c.mine ? " (this device)" : "") : "nobody has control";
    if (c.mine) box.append(this.el("span", { class: "mine", text: "In control" }));
    else if (c.held) {
      box.append(this.el("span", { text: "Watching" }),
        this.el("button", { text: "Take over", "data-testid": "take-over", onclick: () => this.takeOver() }));
    }
    this.emit("control", c);
  },

  /* The status bar's battery (only when the rig has one), and on a paired phone the offer to set
     an unsynchronised clock from the phone's time. */
  setSystem(sys) {
    if (!sys) return;
    this.system = sys;
    const chip = this.$("#battery"), b = sys.battery;
    chip.classList.toggle("hidden", !b);
    if (b) {
      const parts = [b.percent === null ? "battery" : Math.round(b.percent) + "%"];
      if (b.time_left_s) parts.push(this.fmtDuration(b.time_left_s) + " left");
      else if (b.status === "Charging") parts.push("charging");
      chip.textContent = parts.join(" · ");
      chip.className = "chip battery" + (b.status === "Charging" ? " charging" : "") +
        (b.percent !== null && b.percent < 15 && b.status !== "Charging" ? " low" : "");
      chip.title = b.name + ": " + b.status + (b.on_external_power ? ", on external power" : "");
    }
    const phone = document.body.dataset.loopback === "0" && document.body.dataset.paired === "1";
    const offer = phone && sys.clock && !sys.clock.synchronized;
    this.$("#clock-offer").classList.toggle("hidden", !offer);
    if (offer) {
      this.$("#clock-rig").textContent = new Date(sys.clock.now * 1000).toLocaleString();
      this.$("#clock-phone").textContent = new Date().toLocaleString();
    }
    this.emit("system", sys);
  },

  async setClock() {
    const send = (confirm) => this.api("POST", "/api/clock", { time: Date.now() / 1000, confirm }, { quiet: true });
    let r = await send(false);
    if (!r.ok && r.data.code === "confirm") {
      if (!(await this.confirm(r.data.error + ".", "Set the clock"))) return;
      r = await send(true);
    }
    if (r.ok) {
      this.toast("The rig's clock is set");
      this.setSystem(Object.assign({}, this.system, { clock: r.data.clock }));
    } else if (r.status !== 409) {
      this.toast(r.data.error || "The clock was not set", true);
    }
  },

  /* Field-kit mode on the rig's own screen: black after blank_s without input; the first touch
     only wakes it (the overlay takes that tap). Pages hear "blank" (live view pauses). */
  blankS: Number(document.body.dataset.blankS) || 0,
  blanked: false,
  idle() {
    if (!this.blankS) return;
    clearTimeout(this.blankTimer);
    this.blankTimer = setTimeout(() => this.blank(true), this.blankS * 1000);
  },
  blank(on) {
    this.blanked = on;
    this.$("#blank").classList.toggle("hidden", !on);
    if (!on) this.idle();
    this.emit("blank", on);
  },

  async takeOver() {
    if (await this.confirm("Take control of the rig from " + (this.control.holder || "the other device") + "?", "Take over")) {
      await this.api("POST", "/api/control", { action: "take", force: true });
      const s = await this.api("GET", "/api/session", undefined, { quiet: true });
      if (s.ok) this.setControl(s.data.control);
    }
  },

  /* The status stream is the page's lifeline: while it is down (rig.service restarting, or
     this device off the network) an overlay says so, and the page recovers by itself: the
     stream resubscribes, and a page served by an earlier run of the server reloads (new code,
     new CSRF secret, fresh state). */
  boot: document.querySelector('meta[name="boot"]').content,
  lostAt: null,
  leaving: false,

  online() {
    this.connected = true;
    this.lostAt = null;
    clearTimeout(this.offlineTimer);
    this.$("#offline").classList.add("hidden");
  },

  offline() {
    this.connected = false;
    const chip = this.$("#state-chip");
    chip.textContent = "offline"; chip.className = "chip offline";
    if (this.lostAt === null) {
      this.lostAt = new Date();
      clearTimeout(this.offlineTimer);
      // a moment's grace: a page being left, or a stream that reconnects at once, shows nothing
      this.offlineTimer = setTimeout(() => {
        if (this.connected || this.leaving) return;
        this.$("#offline-text").textContent = "No answer from the rig since " + this.lostAt.toLocaleTimeString() +
          ": it is restarting, or this device lost its connection to it.";
        this.$("#offline").classList.remove("hidden");
      }, 1000);
    }
    this.emit("offline", null);
  },

  connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("snapshot", (e) => {
      const d = JSON.parse(e.data);
      if (d.boot && this.boot && d.boot !== this.boot) { es.close(); location.reload(); return; }
      this.online(); this.apply(d, true); this.setSystem(d.system); this.emit("snapshot", d);
    });
    es.addEventListener("system", (e) => this.setSystem(JSON.parse(e.data)));
    es.addEventListener("status", (e) => this.setStatus(JSON.parse(e.data)));
    es.addEventListener("control", (e) => this.setControl(JSON.parse(e.data)));
    es.addEventListener("merge", (e) => { this.merge = JSON.parse(e.data); this.emit("merge", this.merge); });
    for (const kind of ["frame_saved", "run_ended", "fault", "interrupted", "range"]) {
      es.addEventListener(kind, (e) => this.emit(kind, JSON.parse(e.data)));
    }
    es.onerror = () => {
      this.offline();
      if (es.readyState === EventSource.CLOSED) {  // the browser gave up (an HTTP error): retry by hand
        setTimeout(() => { if (this.events === es && !this.leaving) this.connect(); }, 2000);
      }
    };
    this.events = es;
  },

  fmtPos(v, units) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    return (units === "steps" ? v.toFixed(0) + " steps" : v.toFixed(1) + " µm");
  },
  fmtTime(s) {
    if (s === null || s === undefined || !isFinite(s)) return "—";
    s = Math.max(0, Math.round(s));
    const m = Math.floor(s / 60), r = s % 60;
    return m ? m + " min " + String(r).padStart(2, "0") + " s" : r + " s";
  },
  fmtDuration(s) {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.round((s % 3600) / 60);
    return h ? h + " h " + String(m).padStart(2, "0") + " min" : Math.max(1, m) + " min";
  },
  fmtDate(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  },
  enc(id) { return id.split("/").map(encodeURIComponent).join("/"); },
};

document.addEventListener("DOMContentLoaded", () => {
  rig.$("#fault-reset").addEventListener("click", () => rig.api("POST", "/api/reset", {}));
  rig.on("run_ended", (d) => {
    if (d.outcome === "completed") rig.toast("Stack completed");
    else if (d.outcome === "cancelled") rig.toast("Stack cancelled");
  });
  rig.on("fault", (d) => rig.toast("Fault: " + d.error, true));
  rig.$("#clock-set").addEventListener("click", () => rig.setClock());
  if (rig.blankS) {
    for (const kind of ["pointerdown", "keydown", "touchstart", "wheel"]) {
      document.addEventListener(kind, () => { if (!rig.blanked) rig.idle(); }, { capture: true, passive: true });
    }
    rig.$("#blank").addEventListener("click", (e) => { e.preventDefault(); e.stopPropagation(); rig.blank(false); });
    rig.idle();
  }
  window.addEventListener("pagehide", () => { rig.leaving = true; });
  window.addEventListener("pageshow", () => { rig.leaving = false; });
  rig.connect();
});
/* An unpaired viewer may watch and stop (E-STOP, Cancel), nothing else: the moves and starts look
   and are inactive here (the server refuses them anyway) instead of answering with a toast. */
if (document.body.dataset.lan === "1" && document.body.dataset.paired === "0") document.body.classList.add("unpaired");
