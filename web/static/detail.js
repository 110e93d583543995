/* One stack: merged result and depth map, frames, downloads, (re-)merge with progress, delete. */
"use strict";

(function () {
  const sid = document.querySelector("main").dataset.sid;
  const base = "/stacks/" + rig.enc(sid);
  let info = null, view = "merged";

  const fileUrl = (name, dl) => base + "/file/" + rig.enc(name) + (dl ? "?download=1" : "?v=" + Date.now());

  /* The per-frame checks (issue 14): "· re-shot ×2", "· gap fill", "· failed: ..." on each frame. */
  function checkNote(f) {
    let note = "";
    if (f.verdict === "reshot") note += " · re-shot (" + f.shots + " shots)";
    else if (f.verdict === "failed" || f.verdict === "unchecked") note += " · " + f.verdict + ": " + (f.checks.reasons || []).join("; ");
    if (f.gap_fill) note += " · gap fill";
    return note;
  }
  function kvChecks(info) {
    const dl = rig.$("#info");
    dl.append(rig.el("dt", { text: "Checks" }), rig.el("dd", { text: info.check_summary.join("; "), "data-testid": "check-summary" }));
    if (info.coverage && info.coverage.image) {
      dl.append(rig.el("dt", { text: "Coverage" }),
        rig.el("dd", {}, rig.el("img", { src: fileUrl(info.coverage.image, false), alt: "coverage map", class: "coverage" })));
    }
  }

  async function load() {
    const r = await rig.api("GET", "/api/stacks/" + rig.enc(sid), undefined, { quiet: true });
    if (!r.ok) { rig.$("#info").replaceChildren(rig.el("dd", { text: r.data.error || "not found" })); return; }
    info = r.data;
    const kv = [["Outcome", info.outcome + (info.error ? ": " + info.error : "")], ["Started", rig.fmtDate(info.started) +
      (info.clock_synchronized === false ? " (the rig's clock was not synchronised: the date may be wrong)" : "")],
      ["Profile", info.profile_name || "—"], ["Mode", info.mode || "—"], ["Frames", info.frames + " of " + info.planned]];
    if (info.profile && info.profile.description) kv.push(["Notes", info.profile.description]);
    rig.$("#info").replaceChildren(...kv.flatMap(([k, v]) => [rig.el("dt", { text: k }), rig.el("dd", { text: v })]));
    const res = info.results, names = info.result_names;  // the names are the server's (rig/merge/results.py)
    const dl = rig.$("#downloads");
    dl.replaceChildren();
    for (const [name, label] of [[names.jpeg, "JPEG"], [names.image, "TIFF"], [names.depth, "Depth map"]]) {
      if (res[name]) dl.append(rig.el("a", { class: "btn", href: fileUrl(name, true), download: name, text: "⬇ " + label }));
    }
    dl.append(rig.el("a", { class: "btn", href: fileUrl("stack.json", true), download: "stack.json", text: "⬇ Manifest" }));
    const merged = res[names.jpeg] || res[names.image];
    rig.$("#merge").textContent = merged ? "Re-merge" : "Merge";
    rig.$("#show-depth").disabled = !res[names.depth];
    rig.$("#frames").replaceChildren(...info.frame_list.filter((f) => f.file).map((f) =>
      rig.el("a", { href: fileUrl(f.file, false), target: "_blank", title: f.file },
        f.displayable ? rig.el("img", { src: base + "/thumb/" + rig.enc(f.file) + "?w=160", alt: f.file, loading: "lazy" })
          : rig.el("div", { class: "thumbless", text: f.file }),
        rig.el("span", { text: "#" + f.index + " · " + rig.fmtPos(f.position, info.units) + checkNote(f),
          class: f.verdict && f.verdict !== "good" ? "verdict-" + f.verdict : "" }))));
    if (info.check_summary && info.check_summary.length) kvChecks(info);
    if (info.merge) showMerge(info.merge);
    updateMergeButton();
    show(view);
  }

  function show(which) {
    view = which;
    rig.$("#show-merged").classList.toggle("on", which === "merged");
    rig.$("#show-depth").classList.toggle("on", which === "depth");
    const img = rig.$("#result-img"), msg = rig.$("#result-msg");
    const res = info.results, names = info.result_names;
    let src = null, text = "";
    if (which === "depth" && res[names.depth]) src = base + "/thumb/" + rig.enc(names.depth) + "?w=1280&v=" + Date.now();
    else if (res[names.jpeg] || res[names.image]) {
      src = base + "/thumb/" + rig.enc(res[names.jpeg] ? names.jpeg : names.image) + "?w=1280&v=" + Date.now();
    } else if (info.thumb_file) {
      src = base + "/thumb/" + rig.enc(info.thumb_file) + "?w=1280";
      text = "Not merged yet: this is the middle frame. Press Merge.";
    } else text = "No images in this stack.";
    img.classList.toggle("hidden", !src);
    if (src) img.src = src; else img.removeAttribute("src");
    msg.textContent = text;
    msg.classList.toggle("hidden", !text);
  }

  function showMerge(m) {
    const box = rig.$("#merge-box"), bar = rig.$("#merge-bar"), msg = rig.$("#merge-msg");
    if (!m || m.stack !== sid) return;
    box.classList.remove("hidden");
    bar.firstElementChild.style.width = Math.round((m.progress || 0) * 100) + "%";
    bar.className = "bar" + (m.state === "done" ? " done" : m.state === "failed" ? " fail" : "");
    msg.className = "msg" + (m.state === "failed" ? " bad" : "");
    msg.textContent = m.state === "running" ? "Merging… " + Math.round(m.progress * 100) + "%" + (m.stage ? " · " + m.stage : "")
      : m.state === "done" ? "Merged." : m.state === "failed" ? "Merge failed: " + m.error : "Merge " + m.state + ".";
  }

  function updateMergeButton() {
    const m = rig.merge, running = !!(m && m.state === "running");
    const s = rig.status;
    const shooting = s && s.busy && info && s.folder && s.folder.endsWith("/" + sid);
    rig.$("#merge").disabled = running || shooting || !info || info.frames < 2;
    rig.$("#merge-cancel").classList.toggle("hidden", !(running && m.stack === sid));
    rig.$("#delete").disabled = shooting || (running && m.stack === sid);
  }

  rig.$("#show-merged").addEventListener("click", () => show("merged"));
  rig.$("#show-depth").addEventListener("click", () => show("depth"));
  rig.$("#merge").addEventListener("click", async () => {
    const r = await rig.api("POST", "/api/stacks/" + rig.enc(sid) + "/merge", { align: rig.$("#align").checked });
    if (r.ok) { rig.merge = r.data; showMerge(r.data); updateMergeButton(); return; }
    const msg = rig.$("#merge-msg");  // say why here too, not only in a passing toast
    msg.className = "msg bad";
    msg.textContent = "Not merged: " + ((r.data && r.data.error) || "the rig refused (" + r.status + ")");
  });
  rig.$("#merge-cancel").addEventListener("click", () => rig.api("POST", "/api/stacks/" + rig.enc(sid) + "/merge/cancel", {}));
  rig.$("#delete").addEventListener("click", async () => {
    const ok = await rig.confirm("Delete this stack and all its " + (info ? info.frames : "") + " frames? This cannot be undone.", "Delete", true);
    if (!ok) return;
    const r = await rig.api("DELETE", "/api/stacks/" + rig.enc(sid));
    if (r.ok) { rig.toast("Deleted"); location.href = "/gallery"; }
  });
  rig.on("merge", (m) => {
    showMerge(m);
    updateMergeButton();
    if (m && m.stack === sid && m.state === "done") load();
  });
  rig.on("status", updateMergeButton);
  rig.on("run_ended", () => setTimeout(load, 300));
  load();
})();
