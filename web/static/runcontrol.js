/* Pause / Resume of the running stack (POST /api/pause, /api/resume): the run stops between
   slices and holds its position until resumed. */
"use strict";
(() => {
  const button = rig.$("#pause");
  if (!button) return;
  let asked = false;
  function update() {
    const s = rig.status;
    const paused = !!s && s.state === "paused";
    const running = !!s && s.busy && s.state !== "jogging" && s.state !== "returning";
    if (paused || !running) asked = false;
    button.textContent = paused ? "Resume" : asked ? "Pausing…" : "Pause";
    button.disabled = !rig.connected || !(paused || (running && !asked));
  }
  button.addEventListener("click", async () => {
    const paused = rig.status && rig.status.state === "paused";
    if (!paused) asked = true;
    update();
    const r = await rig.api("POST", paused ? "/api/resume" : "/api/pause", {});
    if (!r.ok) asked = false;
    update();
  });
  rig.on("status", update);
  rig.on("offline", update);
  update();
})();
