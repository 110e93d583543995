/* Gallery: every stack under the output folder, newest first. */
"use strict";

(function () {
  async function load() {
    const r = await rig.api("GET", "/api/stacks", undefined, { quiet: true });
    if (!r.ok) return;
    const cards = rig.$("#cards");
    cards.replaceChildren(...r.data.stacks.map(card));
    rig.$("#empty").classList.toggle("hidden", r.data.stacks.length > 0);
    const n = r.data.interrupted.length;
    const ib = rig.$("#interrupted");
    ib.classList.toggle("hidden", !n);
    ib.textContent = n ? n + " stack(s) were left running when the rig last stopped (power loss or crash). " +
      "They are marked interrupted below; their frames are kept." : "";
    const stuck = r.data.not_updated || [];
    if (stuck.length) {
      ib.classList.remove("hidden");
      ib.textContent += " " + stuck.length + " stack(s) could not be updated (" + stuck[0].error +
        "): they still say running; free some space and restart the rig.";
    }
  }

  function card(s) {
    const thumb = rig.el("div", { class: "thumb" });
    if (s.thumb_file) {
      thumb.append(rig.el("img", { src: "/stacks/" + rig.enc(s.id) + "/thumb?w=320", alt: "", loading: "lazy" }));
    } else {
      thumb.textContent = s.mode === "preview" ? "sweep only" : "no image";
    }
    const badges = rig.el("div", { class: "badges" }, rig.el("span", { class: "badge " + s.outcome, text: s.outcome === "unreadable" ? "unreadable manifest" : s.outcome, title: s.error }));
    if (s.merged) badges.append(rig.el("span", { class: "badge merged", text: "merged" }));
    if (rig.merge && rig.merge.stack === s.id && rig.merge.state === "running") {
      badges.append(rig.el("span", { class: "badge running", text: "merging " + Math.round(rig.merge.progress * 100) + "%" }));
    }
    return rig.el("a", { class: "card", href: "/gallery/" + rig.enc(s.id), "data-id": s.id },
      thumb,
      rig.el("div", { class: "meta" },
        rig.el("b", { text: rig.fmtDate(s.started) || s.name }),
        rig.el("span", { class: "dim", text: s.frames + " frame" + (s.frames === 1 ? "" : "s") + (s.profile_name ? " · " + s.profile_name : "") }),
        badges));
  }

  rig.on("run_ended", () => setTimeout(load, 300));
  rig.on("merge", (m) => { if (m && m.state !== "running") load(); });
  rig.on("snapshot", load);
  load();
})();
