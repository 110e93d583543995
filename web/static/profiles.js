/* Profiles: create, edit, save and delete (TOML files on the rig; same validation as the files). */
"use strict";

/* A profile's camera settings (NAME=VALUE, made at start): a field per setting the camera has
   (GET /api/camera: its choices or range), blank for "not set by the profile"; a setting the
   profile names that this camera lacks (made for another body) is shown and kept as it is. */
class ProfileCamera {
  constructor(box) { this.box = box; this.known = []; this.inputs = {}; }

  async load() {
    const r = await rig.api("GET", "/api/camera", undefined, { quiet: true });
    if (r.ok) this.known = r.data.settings;
  }

  fill(assignments) {
    const given = {};
    for (const a of assignments || []) {
      const at = a.indexOf("=");
      if (at > 0) given[a.slice(0, at).trim()] = a.slice(at + 1).trim();
    }
    const names = this.known.map((s) => s.name);
    const extra = Object.keys(given).filter((n) => !names.includes(n)).map((n) => ({ name: n, extra: true }));
    this.inputs = {};
    this.box.replaceChildren(...[...this.known, ...extra].map((s) => {
      const input = s.choices
        ? rig.el("select", { name: s.name }, rig.el("option", { value: "", text: "—" }),
          ...s.choices.map((c) => rig.el("option", { value: c, text: c })))
        : rig.el("input", { name: s.name, placeholder: "—", inputmode: s.range ? "decimal" : "text",
          title: s.range ? s.range[0] + " to " + s.range[1] + " " + s.unit : (s.extra ? "not a setting of this camera" : s.help) });
      input.value = given[s.name] || "";
      this.inputs[s.name] = { input, setting: s };
      const text = s.name.replace(/_/g, " ") + (s.unit ? " (" + s.unit + ")" : "") + (s.extra ? " (other camera)" : "");
      return rig.el("label", { class: "f", text }, input, rig.el("span", { class: "err" }));
    }));
    if (extra.length) rig.$("#p-camera").open = true;
  }

  valid() {
    let ok = true;
    for (const { input, setting } of Object.values(this.inputs)) {
      let err = "";
      const v = input.value.trim();
      if (v && setting.range) {
        const x = Number(v);
        if (!Number.isFinite(x) || x < setting.range[0] || x > setting.range[1]) {
          err = "from " + setting.range[0] + " to " + setting.range[1];
        }
      }
      rig.$(".err", input.closest("label")).textContent = err;
      if (err) { ok = false; rig.$("#p-camera").open = true; }
    }
    return ok;
  }

  values() {
    return Object.entries(this.inputs).map(([n, { input }]) => [n, input.value.trim()])
      .filter(([, v]) => v).map(([n, v]) => n + "=" + v);
  }
}

(async function () {
  let typed = false;  // typed into before the page finished loading: the first load keeps it
  rig.$("#p-form").addEventListener("input", () => { typed = true; }, { once: true });
  const form = new ProfileForm(rig.$("#p-form"), await loadSchema());
  const name = rig.$("#p-name");
  let current = null, list = [];
  const camera = new ProfileCamera(rig.$("#p-cam-fields"));

  async function load(select, first = false) {
    const r = await rig.api("GET", "/api/profiles", undefined, { quiet: true });
    if (!r.ok) return;
    if (first && typed) select = undefined;  // asked once the list is here: typing may go on until then
    list = r.data.profiles;
    rig.$("#plist").replaceChildren(...list.map((p) => rig.el("button", {
      type: "button", class: p.name === select ? "on" : "", "data-name": p.name,
      text: p.name + (p.error ? " ⚠" : ""), title: p.error || "", onclick: () => edit(p.name),
    })));
    if (!list.length) rig.$("#plist").append(rig.el("p", { class: "dim", text: "No profiles saved yet." }));
    if (select !== undefined) edit(select);
  }

  function edit(n) {
    current = n;
    const p = list.find((x) => x.name === n);
    name.value = n || "";
    form.fill(p && p.profile ? p.profile : {});
    camera.fill(p && p.profile ? p.profile.camera_settings : []);
    rig.$("#p-delete").disabled = !p;
    rig.$$("#plist button").forEach((b) => b.classList.toggle("on", b.dataset.name === n));
  }

  rig.$("#p-new").addEventListener("click", () => { edit(null); name.focus(); });
  rig.$("#p-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    const slot = rig.$(".err", name.closest("label"));
    slot.textContent = n ? "" : "give the profile a name";
    const cameraOk = camera.valid();
    if (!n || !form.valid() || !cameraOk) return;
    const values = form.values();
    const was = list.find((x) => x.name === current);
    if (was && was.profile && was.profile.optics) values.optics = was.profile.optics;  // kept: not edited here
    const settings = camera.values();
    if (settings.length) values.camera_settings = settings;
    const r = await rig.api("PUT", "/api/profiles/" + encodeURIComponent(n), values);
    if (r.ok) { rig.toast("Saved " + n); await load(n); }
  });
  rig.$("#p-delete").addEventListener("click", async () => {
    if (!current || !(await rig.confirm("Delete the profile “" + current + "”?", "Delete", true))) return;
    const r = await rig.api("DELETE", "/api/profiles/" + encodeURIComponent(current));
    if (r.ok) { rig.toast("Deleted " + current); await load(null); }
  });
  rig.$("#p-delete").disabled = true;
  await camera.load();
  await load(null, true);
})();
