/* Stack page, per-frame checks (issue 14): the coverage map and the growing result while a stack
   runs, what the checks caught, and Resume when a failed check paused the run. */
"use strict";

(function () {
  const panel = rig.$("#checks-panel"), resume = rig.$("#resume");
  let asked = null;  // "run_id/frames/state" last fetched: one request per change

  async function refresh() {
    const s = rig.status;
    if (!s || !s.folder || s.mode !== "full") { panel.classList.add("hidden"); return; }
    const paused = s.state === "paused";
    resume.classList.toggle("hidden", !paused);
    const msg = rig.$("#paused-msg");
    msg.textContent = paused ? "Paused: " + (s.error || "a slice failed its checks") : "";
    msg.classList.toggle("hidden", !paused);
    const key = s.run_id + "/" + s.frames_saved + "/" + s.state;
    if (key === asked) return;
    asked = key;
    const r = await rig.api("GET", "/api/run/checks", undefined, { quiet: true });
    if (!r.ok || !r.data.stack) return;
    const d = r.data;
    panel.classList.remove("hidden");
    rig.$("#checks-caught").textContent = d.caught ? d.caught + " shot(s) caught and re-taken" : "all frames good so far";
    if (d.coverage) rig.$("#coverage-img").src = d.coverage;
    if (d.composite) rig.$("#composite-img").src = d.composite;
  }

  resume.addEventListener("click", () => rig.api("POST", "/api/resume", {}));
  rig.on("status", refresh);
  refresh();
})();
