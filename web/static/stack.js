/* Stack page: profile picker, validated fields, Start / Cancel / E-stop, live progress. */
"use strict";

(async function () {
  /* Fields the user typed into before the page finished loading keep what was typed: the
     profile and defaults filled in after the load only go into fields nobody touched. */
  const typed = new Set();
  const markTyped = (e) => { if (e.target && e.target.name) typed.add(e.target.name); };
  rig.$("#stack-form").addEventListener("input", markTyped);
  rig.$("#stack-form").addEventListener("change", markTyped);
  const form = new ProfileForm(rig.$("#stack-form"), await loadSchema());
  const pick = rig.$("#profile-pick");
  const start = rig.$("#start"), cancel = rig.$("#cancel"), estop = rig.$("#estop");
  let profiles = {};
  let planTimer = null;
  let planSeq = 0;  // answers to earlier plan requests (slower, or overtaken) are dropped
  let warnings = [];  // the plan's: the battery or the card would not last

  async function loadProfiles() {
    const r = await rig.api("GET", "/api/profiles", undefined, { quiet: true });
    if (!r.ok) return;
    profiles = {};
    for (const p of r.data.profiles) if (p.profile) profiles[p.name] = p.profile;
    const keep = pick.value || localStorage.getItem("rig.profile") || "";
    pick.replaceChildren(rig.el("option", { value: "", text: "(unsaved settings)" }),
      ...Object.keys(profiles).map((n) => rig.el("option", { value: n, text: n })));
    if (keep in profiles) pick.value = keep;
  }

  pick.addEventListener("change", () => {
    localStorage.setItem("rig.profile", pick.value);
    form.fill(profiles[pick.value] || {}, null, true);
  });

  async function plan() {
    const asked = ++planSeq;
    const box = rig.$("#plan");
    if (!form.valid()) { box.textContent = "Fix the marked fields."; box.className = "msg bad"; update(); return; }
    const body = { profile: form.values() };
    const chosen = profiles[pick.value];
    if (chosen && chosen.optics) body.optics = chosen.optics;  // the profile's [optics]: propose the step
    const r = await rig.api("POST", "/api/plan", body, { quiet: true });
    if (asked !== planSeq) return;  // the fields changed meanwhile: a newer plan is on its way
    warnings = (r.ok && r.data.estimate ? r.data.estimate.warnings : []).concat(r.ok ? r.data.coverage || [] : []);
    showOptics(r.ok ? r.data.optics : null);
    const warn = rig.$("#plan-warn");
    warn.textContent = warnings.length ? "Warning: " + warnings.join("; ") + "." : "";
    warn.classList.toggle("hidden", !warnings.length);
    if (r.ok) {
      const p = r.data, e = p.estimate;
      box.className = "msg";
      box.textContent = p.slices + " slices, step " + stepText(p) +
        ", " + rig.fmtPos(p.start, p.units) + " → " + rig.fmtPos(p.end, p.units) +
        (e ? ", about " + rig.fmtTime(e.duration_s) + (e.size_mb ? ", " + Math.round(e.size_mb) + " MB" : "") : "");
    } else {
      box.className = "msg bad";
      box.textContent = r.status === 401 ? "Pair this device to plan and start stacks." : (r.data.error || "cannot plan");
    }
    update();
  }
  /* The plan's step; with a measured distance per step (rig calibrate) in real µm, then as the rail counts it. */
  function stepText(p) {
    const counted = Math.abs(p.step).toFixed(2) + " " + (p.units === "um" ? "µm" : p.units);
    const cal = p.calibration;
    if (!cal || !cal.um_per_step) return counted;
    return (Math.abs(p.step) / cal.rail_per_um).toFixed(2) + " µm calibrated (" + counted + " as the " +
      (p.units === "um" ? "rail counts" : "drive counts") + ")";
  }
  /* The step the optics call for, with a button that puts it in the Step field. */
  function showOptics(o) {
    const box = rig.$("#optics");
    box.classList.toggle("hidden", !o);
    if (!o) return;
    const units = o.units === "um" ? "µm" : o.units;
    rig.$("#optics-text").textContent = "Depth of field " + o.dof.toFixed(1) + " " + units + ": step " +
      o.step.toFixed(1) + " " + units + (o.slices ? ", " + o.slices + " slices over this range" : "");
    rig.$("#optics-use").onclick = () => {
      const ranged = rig.$('#stack-form [name="end_um"]').value.trim() !== "" && o.slices;
      // with an end: the slices that cover the whole range at no more than the proposed step
      rig.$('#stack-form [name="slices"]').value = ranged ? String(o.slices) : rig.$('#stack-form [name="slices"]').value;
      // step_um: real µm where the step has a size in µm (a calibrated rail or lens drive), else the rail's units
      rig.$('#stack-form [name="step_um"]').value = ranged ? "" : String(o.step_um !== null ? o.step_um : o.step);
      form.valid(); form.changed();
    };
  }
  form.onchange = () => { clearTimeout(planTimer); planTimer = setTimeout(plan, 250); };

  start.addEventListener("click", async () => {
    if (!form.valid()) { rig.toast("Some settings are not valid", true); return; }
    if (warnings.length && !(await rig.confirm("Warning: " + warnings.join("; ") + ". Start anyway?", "Start anyway"))) return;
    start.disabled = true;
    const body = { profile: form.values() };
    if (pick.value) body.name = pick.value;
    const specimen = {};  /* what the stack is of: kept in stack.json, @NAME/@SESSION in the template */
    document.querySelectorAll("[data-specimen]").forEach((i) => { if (i.value.trim()) specimen[i.dataset.specimen] = i.value; });
    if (Object.keys(specimen).length) body.specimen = specimen;
    await rig.api("POST", "/api/start", body);
    update();
  });
  cancel.addEventListener("click", () => rig.api("POST", "/api/cancel", {}));
  estop.addEventListener("click", () => rig.api("POST", "/api/estop", {}));

  function update() {
    const s = rig.status;
    if (!s) return;
    const busy = s.busy, fault = s.state === "fault";
    form.disable(busy);
    pick.disabled = busy;
    const planBad = rig.$("#plan").classList.contains("bad");
    start.disabled = busy || fault || planBad || !rig.connected;
    cancel.disabled = !busy;
    const n = s.slices || 0;
    rig.$("#count").textContent = n ? s.slice + " / " + n : "— / —";
    const phase = s.phase || (s.state === "jogging" ? "moving (jog)" : s.state === "starting" ? "starting" : "");
    rig.$("#phase").textContent = busy ? phase : (fault ? "fault" : "ready");
    rig.$("#position").textContent = rig.fmtPos(s.position, s.units);
    rig.$("#eta").textContent = busy ? rig.fmtTime(s.eta_s) : "—";
    let done = 0;
    if (n) done = s.mode === "preview" ? s.slice : s.frames_saved;
    if (s.outcome === "completed") done = n;
    const bar = rig.$("#bar");
    bar.firstElementChild.style.width = n ? Math.min(100, (100 * done) / n) + "%" : "0%";
    bar.className = "bar" + (s.outcome === "completed" ? " done" : s.outcome === "failed" ? " fail" : "");
    const out = rig.$("#outcome");
    out.replaceChildren(s.outcome ? s.outcome + (s.error ? ": " + s.error : "") : (busy ? "running…" : "—"));
    if (!busy && s.folder && s.outcome && s.mode !== "preview") {
      out.append(" · ", rig.el("a", { href: "/gallery", text: "gallery" }));
    }
  }
  /* A stack is running (page reloaded mid-run, or started from another device): show its
     settings, not this page's defaults. Asked once per run. */
  let shownRun = null;
  async function showRunning() {
    const s = rig.status;
    if (!s || !s.busy || s.state === "jogging" || s.run_id === shownRun) return;
    shownRun = s.run_id;
    let run = rig.run;
    if (!run || run.run_id !== s.run_id) {
      const r = await rig.api("GET", "/api/status", undefined, { quiet: true });
      run = r.ok ? r.data.run : null;
    }
    if (!run || run.run_id !== s.run_id) return;
    pick.value = run.name && run.name in profiles ? run.name : "";
    form.fill(run.profile, null, true);
  }

  rig.on("status", update);
  rig.on("offline", update);

  await loadProfiles();
  rig.on("status", showRunning);  // after the profiles: the picker can show the run's profile
  const handoff = sessionStorage.getItem("rig.fromJog");
  if (rig.status && rig.status.busy && rig.status.state !== "jogging") {
    sessionStorage.removeItem("rig.fromJog");
    await showRunning();
  } else if (handoff) {
    sessionStorage.removeItem("rig.fromJog");
    pick.value = "";
    form.fill(Object.assign({}, profiles[""] || {}, JSON.parse(handoff)), null, true);
    rig.$("#more").open = true;
  } else {
    form.fill(profiles[pick.value] || {}, typed, true);
  }
  rig.$("#stack-form").removeEventListener("input", markTyped);
  rig.$("#stack-form").removeEventListener("change", markTyped);
  update();
})();
