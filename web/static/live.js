/* Live view: the MJPEG stream, with fine focus moves beside it. The stream runs only while the
   page is shown: a hidden tab, another app in front on a phone, or a blanked touchscreen
   closes it (the camera's preview loop stops with its last viewer), and it resumes after. */
"use strict";

(function () {
  const img = rig.$("#live-img"), msg = rig.$("#live-msg"), toggle = rig.$("#live-toggle");
  let on = false;

  function show(text) { msg.textContent = text; msg.classList.toggle("hidden", !text); }
  // the focusing screen (focus.js) asks for a magnified view with rig.liveSrc, and restarts it on a change
  const src = () => (rig.liveSrc ? rig.liveSrc() : "/live.mjpg?") + "&t=" + Date.now();
  function start() { on = true; img.src = src(); toggle.textContent = "Pause"; show(""); }
  rig.liveRestart = () => { if (on) start(); };
  function stop() { on = false; img.removeAttribute("src"); toggle.textContent = "Resume"; show("Paused"); }

  img.addEventListener("error", async () => {
    if (!on) return;
    const r = await fetch(src().replace(".mjpg", ".jpg")).catch(() => null);
    let text = "No live view";
    if (r && !r.ok) text = (await r.json().catch(() => ({}))).error || text;
    show(text + " — retrying…");
    setTimeout(() => { if (on) start(); }, 3000);
  });
  toggle.addEventListener("click", () => (on ? stop() : start()));
  let held = false;  // stopped because the page is not shown (not by the Pause button)
  function shown(visible) {
    if (!visible && on) { stop(); held = true; show("Paused while not shown"); }
    else if (visible && held) { held = false; start(); }
  }
  document.addEventListener("visibilitychange", () => shown(document.visibilityState === "visible" && !rig.blanked));
  rig.on("blank", (blanked) => shown(!blanked && document.visibilityState === "visible"));
  rig.$$(".live button[data-delta]").forEach((b) =>
    b.addEventListener("click", () => rig.api("POST", "/api/jog", { delta: Number(b.dataset.delta) })));
  rig.on("status", (s) => {
    rig.$("#live-pos").textContent = rig.fmtPos(s.position, s.units);
    rig.$$(".live button[data-delta]").forEach((b) => { b.disabled = s.busy || s.state === "fault"; });
  });
  window.addEventListener("pagehide", stop);
  start();
})();
