/* Profiles: create, edit, save and delete (TOML files on the rig; same validation as the files). */
"use strict";

(async function () {
  let typed = false;  // typed into before the page finished loading: the first load keeps it
  rig.$("#p-form").addEventListener("input", () => { typed = true; }, { once: true });
  const form = new ProfileForm(rig.$("#p-form"), await loadSchema());
  const name = rig.$("#p-name");
  let current = null, list = [];

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
    rig.$("#p-delete").disabled = !p;
    rig.$$("#plist button").forEach((b) => b.classList.toggle("on", b.dataset.name === n));
  }

  rig.$("#p-new").addEventListener("click", () => { edit(null); name.focus(); });
  rig.$("#p-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    const slot = rig.$(".err", name.closest("label"));
    slot.textContent = n ? "" : "give the profile a name";
    if (!n || !form.valid()) return;
    const values = form.values();
    const was = list.find((x) => x.name === current);
    for (const key of ["optics", "camera_settings"]) {  // kept: not edited on this page
      if (was && was.profile && was.profile[key]) values[key] = was.profile[key];
    }
    const r = await rig.api("PUT", "/api/profiles/" + encodeURIComponent(n), values);
    if (r.ok) { rig.toast("Saved " + n); await load(n); }
  });
  rig.$("#p-delete").addEventListener("click", async () => {
    if (!current || !(await rig.confirm("Delete the profile “" + current + "”?", "Delete", true))) return;
    const r = await rig.api("DELETE", "/api/profiles/" + encodeURIComponent(current));
    if (r.ok) { rig.toast("Deleted " + current); await load(null); }
  });
  rig.$("#p-delete").disabled = true;
  await load(null, true);
})();
