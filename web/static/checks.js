/* Stack page, per-frame checks (issue 14): the coverage map and the growing result while a stack
   runs, what the checks caught, and Resume when a failed check paused the run. The growing result
   is the merge's own result so far while a merge during capture runs (refreshed on its progress
   events too), its merged image once done, else the checks' quick composite. */
"use strict";

(function () {
  const panel = rig.$("#checks-panel"), resume = rig.$("#resume");
  let asked = null;  // "run_id/frames/state/merge" last fetched: one request per change
  const captions = { merge: "Growing result (merge so far)", merged: "Merged result", quick: "Growing result (quick preview)" };

  async function refresh() {
    const s = rig.status;
    if (!s || !s.folder || s.mode !== "full") { panel.classList.add("hidden"); return; }
    const paused = s.state === "paused";
    resume.classList.toggle("hidden", !paused);
    const msg = rig.$("#paused-msg");
    msg.textContent = paused ? "Paused: " + (s.error || "a slice failed its checks") : "";
    msg.classList.toggle("hidden", !paused);
    const m = rig.merge && rig.merge.folder === s.folder ? rig.merge.state + ":" + rig.merge.progress : "";
    const key = s.run_id + "/" + s.frames_saved + "/" + s.state + "/" + m;
    if (key === asked) return;
    asked = key;
    const r = await rig.api("GET", "/api/run/checks", undefined, { quiet: true });
    if (!r.ok || !r.data.stack) return;
    const d = r.data;
    panel.classList.remove("hidden");
    rig.$("#checks-caught").textContent = d.caught ? d.caught + " shot(s) caught and re-taken" : "all frames good so far";
    if (d.coverage) rig.$("#coverage-img").src = d.coverage;
    if (d.composite) {
      const img = rig.$("#composite-img");
      img.src = d.composite;
      img.dataset.source = d.composite_source;
      rig.$("#composite-caption").textContent = captions[d.composite_source] || "Growing result";
    }
  }

  resume.addEventListener("click", () => rig.api("POST", "/api/resume", {}));
  rig.on("status", refresh);
  rig.on("merge", refresh);
  refresh();
})();
