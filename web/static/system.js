/* System: the active config and backends, health, disk, CPU temperature. */
"use strict";

(function () {
  const fill = (id, rows) => rig.$(id).replaceChildren(...rows.flatMap(([k, v, cls]) =>
    [rig.el("dt", { text: k }), rig.el("dd", { text: v === null || v === undefined ? "—" : String(v), class: cls || null })]));
  const health = (h) => [h.ok ? "OK" : "NOT OK" + (h.error ? ": " + h.error : ""), h.ok ? "ok" : "notok"];

  async function load() {
    const r = await rig.api("GET", "/api/system", undefined, { quiet: true });
    if (!r.ok) return;
    const d = r.data, c = d.config;
    fill("#sys-rig", [["Config", c.source], ["Rail", c.rail.backend + " (" + c.rail.units + ")"],
      ["Travel", c.rail.min + " … " + c.rail.max + " " + c.rail.units], ["Camera", c.camera.backend],
      ["Model", d.camera_info.model || d.camera_info.error], ["Version", "rig " + d.version]]);
    const [rt, rc] = health(d.rail), [ct, cc] = health(d.camera);
    fill("#sys-health", [["Rail", rt, rc], ["Camera", ct, cc], ["Merging", d.merge_available ? "available" : "not installed"]]);
    const disk = d.disk.error ? d.disk.error : (d.disk.free_mb / 1000).toFixed(1) + " GB free of " + (d.disk.total_mb / 1000).toFixed(0) + " GB";
    const low = !d.disk.error && d.disk.free_mb < d.disk.min_free_mb;
    fill("#sys-host", [["Stacks", d.disk.path], ["Disk", disk + (low ? " (too little to start a stack)" : ""), low ? "notok" : null],
      ["CPU temp", d.cpu_temp_c === null ? "n/a (not a Pi)" : d.cpu_temp_c + " °C", d.cpu_temp_c > 80 ? "notok" : null],
      ["Load", d.load ? d.load.join("  ") : "—"], ["Profiles", d.profiles_folder],
      ["Clock", d.clock.synchronized ? "synchronised (" + d.clock.source + "): " + new Date(d.clock.now * 1000).toLocaleString()
        : "NOT synchronised (no network time, no RTC): " + new Date(d.clock.now * 1000).toLocaleString() +
          "; new stacks are flagged in stack.json", d.clock.synchronized ? "ok" : "notok"],
      ["Battery", d.battery ? (d.battery.percent === null ? "" : Math.round(d.battery.percent) + "%, ") + d.battery.status +
        (d.battery.time_left_s ? ", " + rig.fmtDuration(d.battery.time_left_s) + " left" : "") : "none reported"],
      ["Field kit", d.field_kit ? "on (screen blanking, rail released between stacks)" : "off"]]);
    fill("#sys-web", [["LAN access", d.web.lan ? "on (pairing token required)" : "off (this device only)"],
      ["Live viewers", d.web.live_viewers + " of " + d.web.max_live_viewers], ["Status streams", d.web.status_streams]]);
  }
  /* Pairing (on the rig's own screen): one QR code per address; tap an address to show its code. */
  for (const b of rig.$$(".pairlinks button")) {
    b.addEventListener("click", () => {
      for (const o of rig.$$(".pairlinks button")) o.classList.toggle("on", o === b);
      for (const q of rig.$$("#pair-qr [data-qr]")) q.hidden = q.dataset.qr !== b.dataset.qr;
      rig.$("#pair-url").textContent = b.dataset.url;
    });
  }
  rig.$("#release").addEventListener("click", () => rig.api("POST", "/api/control", { action: "release" }));
  rig.on("control", (c) => { rig.$("#release").disabled = !c.mine; });
  load();
  setInterval(load, 10000);
})();
