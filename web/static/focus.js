/* The focusing screen (the Live page): a magnified live view cropped on the rig (tap a point to
   magnify around it, pinch or the buttons to change the magnification), focus peaking, fine and
   coarse focus moves, Set start / Set end / Find range, and the plan as it changes: the step comes
   from the chosen profile's [optics] when it has them. While a stack runs, the last saved frame
   shows beside the live view (real cameras pause their live view for the run). live.js runs the
   stream itself; this file tells it what to ask for (rig.liveSrc). */
"use strict";

(function () {
  const q = (id) => rig.$("#" + id);
  const view = { zoom: 1, x: 0.5, y: 0.5, peaking: false };
  let native = 4;  // the zoom at which one screen pixel is one sensor pixel (from /api/live)
  let range = { start: null, end: null };
  let optics = null;  // the chosen profile's [optics]
  let planSeq = 0, planTimer = null, lastPlan = null;

  rig.liveSrc = () => "/live/view.mjpg?zoom=" + view.zoom + "&x=" + view.x.toFixed(4) + "&y=" + view.y.toFixed(4) +
    "&peaking=" + (view.peaking ? 1 : 0);

  function zoomLabel(z) { return z === 1 ? "Fit" : z === native ? "100%" : z + "×"; }
  function setView(changes) {
    Object.assign(view, changes);
    rig.$$(".zooms button").forEach((b) => b.classList.toggle("on", Number(b.dataset.zoom) === view.zoom));
    q("zoom-tag").textContent = zoomLabel(view.zoom) + (view.peaking ? " · peaking" : "");
    q("peaking").setAttribute("aria-pressed", view.peaking ? "true" : "false");
    q("peaking").classList.toggle("on", view.peaking);
    if (rig.liveRestart) rig.liveRestart();
  }
  rig.$$(".zooms button").forEach((b) => b.addEventListener("click", () => setView({ zoom: Number(b.dataset.zoom) })));
  q("peaking").addEventListener("click", () => setView({ peaking: !view.peaking }));

  /* A tap magnifies around that point (or moves the centre there when already magnified). */
  const img = q("live-img");
  function frameFraction(ev) {
    const r = img.getBoundingClientRect();
    const iw = img.naturalWidth || 4, ih = img.naturalHeight || 3;
    const scale = Math.min(r.width / iw, r.height / ih);
    const w = iw * scale, h = ih * scale;
    const fx = (ev.clientX - r.left - (r.width - w) / 2) / w, fy = (ev.clientY - r.top - (r.height - h) / 2) / h;
    if (fx < 0 || fx > 1 || fy < 0 || fy > 1) return null;
    const span = 1 / view.zoom;
    const left = Math.min(1 - span, Math.max(0, view.x - span / 2)), top = Math.min(1 - span, Math.max(0, view.y - span / 2));
    return [left + fx * span, top + fy * span];
  }
  img.addEventListener("click", (ev) => {
    const at = frameFraction(ev);
    if (!at) return;
    setView({ x: at[0], y: at[1], zoom: view.zoom === 1 ? native : view.zoom });
  });
  let pinch = null;
  const gap = (t) => Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY);
  q("view").addEventListener("touchstart", (e) => { if (e.touches.length === 2) pinch = { d0: gap(e.touches), d: gap(e.touches) }; }, { passive: true });
  q("view").addEventListener("touchmove", (e) => {
    if (pinch && e.touches.length === 2) { pinch.d = gap(e.touches); e.preventDefault(); }
  }, { passive: false });
  q("view").addEventListener("touchend", () => {
    if (!pinch) return;
    const zooms = [1, 2, 4, 8], i = zooms.indexOf(view.zoom), ratio = pinch.d / pinch.d0;
    pinch = null;
    if (ratio > 1.25 && i < zooms.length - 1) setView({ zoom: zooms[i + 1] });
    else if (ratio < 0.8 && i > 0) setView({ zoom: zooms[i - 1] });
  });

  /* Start, end and the plan. */
  const here = () => Math.round(rig.status.position * 10) / 10;
  q("f-set-start").addEventListener("click", () => { range.start = here(); plan(); });
  q("f-set-end").addEventListener("click", () => { range.end = here(); plan(); });
  q("f-range").addEventListener("click", async () => {
    const r = await rig.api("POST", "/api/range", {});
    if (r.ok) { q("f-plan").className = "msg mono"; q("f-plan").textContent = "Finding the range…"; }
  });
  rig.on("range", (res) => {
    if (!res.found) { rig.toast(res.error || "no range found", true); plan(); return; }
    range = { start: res.start_um, end: res.end_um };
    rig.toast("Range found: " + rig.fmtPos(res.start_um, res.units) + " → " + rig.fmtPos(res.end_um, res.units));
    plan();
  });

  async function loadOptics() {
    const name = localStorage.getItem("rig.profile");
    if (!name) return;
    const r = await rig.api("GET", "/api/profiles/" + encodeURIComponent(name), undefined, { quiet: true });
    optics = r.ok && r.data.profile.optics ? r.data.profile.optics : null;
  }

  async function plan() {
    clearTimeout(planTimer);
    const box = q("f-plan"), asked = ++planSeq;
    const parts = [];
    if (range.start !== null) parts.push("start " + rig.fmtPos(range.start, rig.status.units));
    if (range.end !== null) parts.push("end " + rig.fmtPos(range.end, rig.status.units));
    if (range.start === null || range.end === null || range.start === range.end) {
      lastPlan = null;
      box.className = "msg mono";
      box.textContent = parts.length ? parts.join(", ") + ". Set the other end." : "Set a start and an end.";
      return;
    }
    const body = { profile: { start_um: range.start, end_um: range.end } };
    if (optics) body.optics = optics;
    const r = await rig.api("POST", "/api/plan", body, { quiet: true });
    if (asked !== planSeq) return;
    if (!r.ok) { lastPlan = null; box.className = "msg bad"; box.textContent = r.data.error || "cannot plan"; return; }
    const p = r.data, o = p.optics, units = p.units === "um" ? "µm" : p.units;
    const step = o ? o.step : Math.abs(p.step), slices = o ? o.slices : p.slices;
    lastPlan = { start_um: range.start, end_um: range.end, step_um: step };
    box.className = "msg mono";
    box.textContent = rig.fmtPos(range.start, p.units) + " → " + rig.fmtPos(range.end, p.units) + ": " + slices +
      " slices × " + step.toFixed(1) + " " + units + (o ? " (depth of field " + o.dof.toFixed(1) + " " + units + ")" : "");
  }
  q("f-use").addEventListener("click", () => {
    if (!lastPlan) { rig.toast("Set a start and an end first", true); return; }
    sessionStorage.setItem("rig.fromJog", JSON.stringify(lastPlan));
    location.href = "/";
  });

  /* While a stack runs: the last frame it saved, beside the live view. */
  const last = q("last-img");
  rig.on("frame_saved", () => { last.src = "/live/last.jpg?t=" + Date.now(); last.classList.remove("hidden"); });
  rig.on("status", (s) => {
    const running = s.busy && s.state !== "jogging" && s.state !== "ranging" && s.state !== "returning";
    if (!running) last.classList.add("hidden");
    const still = s.busy || s.state === "fault";
    for (const id of ["f-set-start", "f-set-end", "f-range"]) q(id).disabled = still;
    if (s.state === "ranging") { q("f-plan").className = "msg mono"; q("f-plan").textContent = "Finding the range… " + s.slice + " / " + s.slices; }
  });

  (async function init() {
    const r = await rig.api("GET", "/api/live", undefined, { quiet: true });
    if (r.ok) native = r.data.native_zoom;
    rig.$$(".zooms button").forEach((b) => { b.textContent = zoomLabel(Number(b.dataset.zoom)); });
    await loadOptics();
  })();
})();
