/* A stack's specimen on its page (issue 17): shown and edited; Save writes stack.json's specimen
   (PUT /api/stacks/<id>/specimen). The folder keeps its name. */
"use strict";

(function () {
  const sid = document.querySelector("main").dataset.sid, form = rig.$("#specimen-form");
  if (!sid || !form) return;
  const inputs = form.querySelectorAll("[data-specimen]");

  async function load() {
    const r = await rig.api("GET", "/api/stacks/" + rig.enc(sid), undefined, { quiet: true });
    if (!r.ok) return;
    const sp = r.data.specimen || {};
    inputs.forEach((i) => { i.value = sp[i.dataset.specimen] || ""; });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const specimen = {};
    inputs.forEach((i) => { if (i.value.trim()) specimen[i.dataset.specimen] = i.value; });
    const r = await rig.api("PUT", "/api/stacks/" + rig.enc(sid) + "/specimen", { specimen: Object.keys(specimen).length ? specimen : null });
    if (r.ok) rig.toast("Specimen saved");
  });
  load();
})();
