/* Camera settings on the Focus page: what the camera lets rig change (GET /api/camera), changed
   together with Apply (POST /api/camera; the rig checks every value before it changes any). */
"use strict";

(function () {
  const fields = rig.$("#cam-fields"), msg = rig.$("#cam-msg");
  let inputs = {};

  function build(settings) {
    inputs = {};
    fields.replaceChildren(...settings.map((s) => {
      const input = s.choices
        ? rig.el("select", { name: s.name }, ...s.choices.map((c) => rig.el("option", { value: c, text: c })))
        : rig.el("input", { name: s.name, inputmode: s.range ? "decimal" : "text", title: s.range ? s.range[0] + " to " + s.range[1] + " " + s.unit : s.help });
      input.value = s.value;
      inputs[s.name] = input;
      return rig.el("label", { class: "f", text: s.name.replace(/_/g, " ") + (s.unit ? " (" + s.unit + ")" : "") }, input);
    }));
    msg.textContent = settings.length ? "" : "This camera has no settings rig can change.";
    rig.$("#cam-apply").disabled = !settings.length;
  }
  async function load() {
    const r = await rig.api("GET", "/api/camera", undefined, { quiet: true });
    if (r.ok) build(r.data.settings);
  }
  rig.$("#cam-apply").addEventListener("click", async () => {
    const set = {};
    for (const [name, input] of Object.entries(inputs)) set[name] = input.value;
    const r = await rig.api("POST", "/api/camera", { set });
    if (r.ok) { build(r.data.settings); rig.toast("Camera settings applied"); }
  });
  rig.$("#camera-settings").addEventListener("toggle", () => { if (rig.$("#camera-settings").open) load(); });
})();
