/* Crop the results of a stack on its merged preview (issue 17): drag a rectangle on the merged
   image, Apply stores it in stack.json (PUT /api/stacks/<id>/crop) and re-merges; the frames are
   never cropped. Clear removes the crop. The rectangle is measured on the image as shown, which
   is the last merge's result (already cropped when a crop was set). */
"use strict";

(function () {
  const sid = document.querySelector("main").dataset.sid;
  const img = rig.$("#result-img"), tabs = document.querySelector(".result .tabs");
  if (!sid || !img || !tabs) return;
  const api = "/api/stacks/" + rig.enc(sid) + "/crop";
  const button = rig.el("button", { type: "button", id: "crop", text: "Crop…", "data-testid": "crop" });
  const apply = rig.el("button", { type: "button", class: "primary hidden", text: "Apply crop", "data-testid": "crop-apply" });
  const clear = rig.el("button", { type: "button", class: "hidden", text: "Clear crop" });
  const note = rig.el("span", { class: "dim", "data-testid": "crop-note" });
  tabs.append(button, apply, clear, note);
  const box = rig.el("div", { class: "crop-box hidden" });
  img.parentElement.style.position = "relative";
  img.parentElement.style.overflow = "hidden";
  img.parentElement.append(box);
  let state = null, drawing = null, rect = null;

  async function refresh() {
    const r = await rig.api("GET", api, undefined, { quiet: true });
    if (!r.ok) return;
    state = r.data;
    note.textContent = state.crop ? "crop " + state.crop[2] + "×" + state.crop[3] + " at " + state.crop[0] + "," + state.crop[1] : "";
    clear.classList.toggle("hidden", !state.crop);
  }

  function frac(e) {
    const b = img.getBoundingClientRect();
    return { x: Math.min(1, Math.max(0, (e.clientX - b.left) / b.width)), y: Math.min(1, Math.max(0, (e.clientY - b.top) / b.height)) };
  }

  function draw() {
    if (!rect) { box.classList.add("hidden"); return; }
    const b = img.getBoundingClientRect(), p = img.parentElement.getBoundingClientRect();
    Object.assign(box.style, { left: (b.left - p.left + rect.x0 * b.width) + "px", top: (b.top - p.top + rect.y0 * b.height) + "px",
      width: ((rect.x1 - rect.x0) * b.width) + "px", height: ((rect.y1 - rect.y0) * b.height) + "px" });
    box.classList.remove("hidden");
  }

  button.addEventListener("click", () => {
    const on = !img.classList.toggle("cropping");
    rect = null; draw(); apply.classList.add("hidden");
    button.classList.toggle("on", !on);
  });
  img.addEventListener("pointerdown", (e) => {
    if (!img.classList.contains("cropping")) return;
    e.preventDefault(); drawing = frac(e); rect = null; img.setPointerCapture(e.pointerId);
  });
  img.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const f = frac(e);
    rect = { x0: Math.min(drawing.x, f.x), y0: Math.min(drawing.y, f.y), x1: Math.max(drawing.x, f.x), y1: Math.max(drawing.y, f.y) };
    draw();
  });
  img.addEventListener("pointerup", () => { drawing = null; apply.classList.toggle("hidden", !rect || rect.x1 - rect.x0 < 0.01 || rect.y1 - rect.y0 < 0.01); });

  async function save(crop) {
    const r = await rig.api("PUT", api, { crop });
    if (!r.ok) return;
    img.classList.remove("cropping"); button.classList.remove("on"); rect = null; draw(); apply.classList.add("hidden");
    await refresh();
    await rig.api("POST", "/api/stacks/" + rig.enc(sid) + "/merge", { align: true });
    rig.toast(crop ? "Crop set; re-merging" : "Crop cleared; re-merging");
  }

  apply.addEventListener("click", () => {
    if (!state || !state.image_size || !rect) return;
    const base = state.crop || [0, 0, state.image_size[0], state.image_size[1]];  // what the shown image covers
    const x = Math.round(base[0] + rect.x0 * base[2]), y = Math.round(base[1] + rect.y0 * base[3]);
    const w = Math.max(1, Math.round((rect.x1 - rect.x0) * base[2])), h = Math.max(1, Math.round((rect.y1 - rect.y0) * base[3]));
    save([x, y, Math.min(w, base[0] + base[2] - x), Math.min(h, base[1] + base[3] - y)]);
  });
  clear.addEventListener("click", () => save(null));
  refresh();
})();
