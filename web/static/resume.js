/* The Resume button of an interrupted, cancelled or failed stack (POST /api/stacks/<id>/resume):
   the rail re-homes, or, without a home switch, the user confirms where it is; the run goes on
   from the first missing or unverified frame into the same folder. Never automatic. */
"use strict";

(function () {
  const sid = document.querySelector("main").dataset.sid;
  const box = rig.$("#resume-box"), button = rig.$("#resume");
  if (!box || !button) return;
  const RESUMABLE = ["interrupted", "cancelled", "failed"];

  async function load() {
    const r = await rig.api("GET", "/api/stacks/" + rig.enc(sid), undefined, { quiet: true });
    const ok = r.ok && RESUMABLE.includes(r.data.outcome) && r.data.mode !== "preview";
    box.classList.toggle("hidden", !ok);
    if (ok) rig.$("#resume-msg").textContent = r.data.frames + " of " + r.data.planned + " frames saved";
    update();
  }

  function update() {
    button.disabled = !rig.connected || !!(rig.status && rig.status.busy);
  }

  button.addEventListener("click", async () => {
    const s = await rig.api("GET", "/api/session", undefined, { quiet: true });
    let body = {};
    if (s.ok && !s.data.can_home) {
      const pos = rig.status ? rig.fmtPos(rig.status.position, rig.status.units) : "?";
      const text = "This rail has no home switch. The rig says it is at " + pos +
        ". Is that where it is? (Jog it there first if not.) The stack goes on from its first missing frame.";
      if (!(await rig.confirm(text, "Yes, resume"))) return;
      body = { position_confirmed: true };
    } else if (!(await rig.confirm("The rail re-homes, then the stack goes on from its first missing frame.", "Resume"))) {
      return;
    }
    const r = await rig.api("POST", "/api/stacks/" + rig.enc(sid) + "/resume", body);
    if (r.ok) location.href = "/";
  });

  rig.on("status", update);
  rig.on("run_ended", () => setTimeout(load, 300));
  load();
})();
