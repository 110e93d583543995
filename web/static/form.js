/* A profile form validated as typed with the same ranges the server enforces (/api/profile-schema). */
"use strict";

class ProfileForm {
  constructor(root, schema) {
    this.root = root;
    this.schema = {};
    for (const f of schema) this.schema[f.name] = f;
    this.inputs = rig.$$("[data-field]", root);
    for (const input of this.inputs) {
      const f = this.schema[input.dataset.field];
      if (f && f.range && input.type !== "checkbox") input.title = f.help + " (" + f.allowed + ")";
      input.addEventListener("input", () => { this.check(input); this.changed(); });
      input.addEventListener("change", () => { this.check(input); this.changed(); });
    }
    this.onchange = null;
  }

  changed() { if (this.onchange) this.onchange(); }

  /* Returns [value, error]; value undefined means "leave out" (use the default). */
  parse(input) {
    const f = this.schema[input.dataset.field];
    if (!f) return [undefined, null];
    if (input.type === "checkbox") return [input.checked, null];
    const raw = input.value.trim();
    if (f.type === "str") {
      if (f.choices && !f.choices.includes(raw)) return [undefined, "choose one of " + f.choices.join(", ")];
      if (f.name === "out" && raw === "") return [undefined, null];
      return [raw, null];
    }
    if (raw === "") return [f.optional ? null : undefined, null];
    if (f.words && f.words.includes(raw)) return [raw, null]; /* settle_s = "auto" */
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw)) return [undefined, "not a number"];
    const v = Number(raw);
    if (!isFinite(v)) return [undefined, "not a finite number"];
    if (f.type === "int" && !Number.isInteger(v)) return [undefined, "a whole number"];
    if (f.range && (v < f.range[0] || v > f.range[1])) return [undefined, f.allowed];
    return [v, null];
  }

  check(input) {
    const [, err] = this.parse(input);
    input.classList.toggle("bad", !!err);
    input.setAttribute("aria-invalid", err ? "true" : "false");
    const label = input.closest("label");
    const slot = label && rig.$(".err", label);
    if (slot) slot.textContent = err || "";
    return !err;
  }

  valid() { return this.inputs.map((i) => this.check(i)).every(Boolean); }

  values() {
    const out = {};
    for (const input of this.inputs) {
      const [v, err] = this.parse(input);
      if (!err && v !== undefined) out[input.dataset.field] = v;
    }
    return out;
  }

  /* Shows ``profile``'s values, and the defaults as real values (the planner's slice count and
     step where the profile leaves them open, with ``planned``). Inputs named in ``keep`` (typed
     into by the user while the page loaded) keep their value. */
  fill(profile, keep, planned) {
    profile = profile || {};
    for (const input of this.inputs) {
      const f = this.schema[input.dataset.field];
      if (!f) continue;
      if (keep && keep.has(input.name)) { this.check(input); continue; }
      let v = profile[f.name];
      if (v === undefined || v === null) v = f.default;
      const ranged = profile.end_um !== undefined && profile.end_um !== null;
      if (planned && (v === undefined || v === null) && f.shown !== undefined && f.shown !== null && !(ranged && f.name === "slices")) {
        v = f.shown;  // with an end, the slice count follows from the step
      }
      if (input.type === "checkbox") input.checked = !!v;
      else input.value = v === null || v === undefined ? "" : String(v);
      this.check(input);
    }
    this.changed();
  }

  disable(on) { for (const input of this.inputs) input.disabled = on; }
}

async function loadSchema() {
  const r = await rig.api("GET", "/api/profile-schema");
  return r.ok ? r.data.fields : [];
}
