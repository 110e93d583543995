/* Jog page: coarse and fine moves, set start/end from here, plan computed by the server. */
"use strict";

(function () {
  const q = (id) => rig.$("#" + id);
  let timer = null;
  const num = (el) => (el.value.trim() === "" ? null : Number(el.value));

  rig.$$("#jogpad button").forEach((b) =>
    b.addEventListener("click", () => rig.api("POST", "/api/jog", { delta: Number(b.dataset.delta) })));
  const home = q("home");  // only there when the rail has a home switch
  if (home) {
    home.addEventListener("click", async () => {
      if (await rig.confirm("Move the rail to its home switch and zero the position there?", "Home")) {
        rig.api("POST", "/api/home", {});
      }
    });
  }
  q("jog-stop").addEventListener("click", () => rig.api("POST", "/api/cancel", {}, { quiet: true }));
  q("set-start").addEventListener("click", () => { q("j-start").value = rig.status.position.toFixed(1); plan(); });
  q("set-end").addEventListener("click", () => { q("j-end").value = rig.status.position.toFixed(1); plan(); });
  q("go-start").addEventListener("click", () => {
    const s = num(q("j-start"));
    if (s === null || !isFinite(s)) { rig.toast("Set a start first", true); return; }
    rig.api("POST", "/api/jog", { target: s });
  });
  for (const id of ["j-start", "j-end", "j-step", "j-slices"]) {
    q(id).addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(plan, 250); });
  }

  function profile() {
    const p = { start_um: num(q("j-start")), end_um: num(q("j-end")) };
    const slices = num(q("j-slices")), step = num(q("j-step"));
    if (slices !== null) p.slices = slices; else p.step_um = step === null ? 100 : step;
    return p;
  }

  async function plan() {
    const box = q("j-plan");
    const p = profile();
    if (p.start_um === null || p.end_um === null) { box.className = "msg"; box.textContent = "Set a start and an end."; return; }
    for (const [k, v] of Object.entries(p)) {
      if (v !== null && !isFinite(v)) { box.className = "msg bad"; box.textContent = k + ": not a number"; return; }
    }
    const r = await rig.api("POST", "/api/plan", { profile: p }, { quiet: true });
    box.className = r.ok ? "msg" : "msg bad";
    box.textContent = r.ok
      ? r.data.slices + " slices × " + Math.abs(r.data.step).toFixed(2) + " µm over " + r.data.travel.toFixed(1) + " µm"
      : r.data.error || "cannot plan";
  }

  q("to-stack").addEventListener("click", () => {
    const p = profile();
    if (p.start_um === null || p.end_um === null) { rig.toast("Set a start and an end first", true); return; }
    sessionStorage.setItem("rig.fromJog", JSON.stringify(p));
    location.href = "/";
  });

  rig.on("status", (s) => {
    q("jogpos").textContent = rig.fmtPos(s.position, s.units);
    const moving = s.busy;
    rig.$$("#jogpad button, #set-start, #set-end, #go-start, #home").forEach((b) => { b.disabled = moving || s.state === "fault"; });
    q("jog-stop").disabled = !moving;
  });
})();
