/* Gallery: every stack under the output folder, newest first. */
"use strict";

(function () {
  const PER_PAGE = 60;
  let page = 1;

  /* The listing's query: search, filters, grouping, page (GET /api/stacks, the SQLite catalogue). */
  function query() {
    const p = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE), group: rig.$("#group").value });
    const fields = { q: "#q", session: "#f-session", profile: "#f-profile", from: "#f-from", to: "#f-to" };
    for (const [key, sel] of Object.entries(fields)) { const v = rig.$(sel).value.trim(); if (v) p.set(key, v); }
    return p.toString();
  }

  function options(sel, values, all) {
    const box = rig.$(sel), keep = box.value;
    box.replaceChildren(rig.el("option", { value: "", text: all }), ...values.map((v) => rig.el("option", { value: v, text: v })));
    box.value = values.includes(keep) ? keep : "";
  }

  function groupKey(s, group) {
    const sp = s.specimen || {};
    if (group === "specimen") return sp.name || "(no specimen name)";
    if (group === "session") return sp.session || "(no session)";
    if (group === "profile") return s.profile_name || "(no profile)";
    return (s.started || "").slice(0, 10) || "(no date)";
  }

  async function load() {
    const r = await rig.api("GET", "/api/stacks?" + query(), undefined, { quiet: true });
    if (!r.ok) return;
    const cards = rig.$("#cards"), group = rig.$("#group").value, items = [];
    let last = null;
    for (const s of r.data.stacks) {
      const key = groupKey(s, group);
      if (key !== last) { items.push(rig.el("h3", { class: "group", text: key })); last = key; }
      items.push(card(s));
    }
    cards.replaceChildren(...items);
    options("#f-session", r.data.sessions || [], "All sessions");
    options("#f-profile", r.data.profiles || [], "All profiles");
    const pages = Math.max(1, Math.ceil(r.data.total / PER_PAGE));
    rig.$("#pager").classList.toggle("hidden", pages < 2);
    rig.$("#page-info").textContent = "page " + page + " of " + pages + " · " + r.data.total + " stack(s)";
    rig.$("#prev").disabled = page <= 1; rig.$("#next").disabled = page >= pages;
    rig.$("#empty").classList.toggle("hidden", r.data.total > 0 || !!rig.$("#q").value);
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
        rig.el("b", { text: (s.specimen && s.specimen.name) || rig.fmtDate(s.started) || s.name }),
        s.specimen && s.specimen.name ? rig.el("span", { class: "dim", text: [s.specimen.catalogue_number, rig.fmtDate(s.started)].filter(Boolean).join(" · ") }) : null,
        rig.el("span", { class: "dim", text: s.frames + " frame" + (s.frames === 1 ? "" : "s") + (s.profile_name ? " · " + s.profile_name : "") }),
        badges));
  }

  let typing = null;
  rig.$("#q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { page = 1; load(); }, 200); });
  rig.$("#find").addEventListener("submit", (e) => { e.preventDefault(); page = 1; load(); });
  for (const sel of ["#f-session", "#f-profile", "#f-from", "#f-to", "#group"]) rig.$(sel).addEventListener("change", () => { page = 1; load(); });
  rig.$("#prev").addEventListener("click", () => { page = Math.max(1, page - 1); load(); });
  rig.$("#next").addEventListener("click", () => { page += 1; load(); });
  rig.on("run_ended", () => setTimeout(load, 300));
  rig.on("merge", (m) => { if (m && m.state !== "running") load(); });
  rig.on("snapshot", load);
  load();
})();
