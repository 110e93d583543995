/* Results you can judge: the merged result, the depth map or any frame at 100 % (or 200 %),
   panned by dragging, made of crops the rig cuts from the full-size file (a phone never gets the
   whole full-size image). Tap the result, or a frame, to open; drag to pan; pinch or the buttons
   for 100 % / 200 %; Close. */
"use strict";

(function () {
  const box = rig.$("#inspect"), img = rig.$("#inspect-img"), label = rig.$("#inspect-name");
  let url = null, size = null, at = { x: 0.5, y: 0.5 }, zoom = 1, drag = null, pinch = null, asked = 0;

  async function open(fileUrl, x, y) {
    url = fileUrl.replace(/\/(thumb|file)\//, "/crop/").split("?")[0];
    const r = await rig.api("GET", url.replace("/crop/", "/size/"), undefined, {});
    if (!r.ok) return;
    size = r.data;
    at = { x, y };
    zoom = 1;
    label.textContent = decodeURIComponent(url.split("/crop/")[1]) + " · " + size.width + "×" + size.height;
    box.classList.remove("hidden");
    show();
  }
  function show() {
    const w = Math.round(box.clientWidth / zoom), h = Math.round((box.clientHeight - 48) / zoom);
    const mine = ++asked;
    const next = new Image();
    next.onload = () => {
      if (mine !== asked) return;
      img.src = next.src;
      img.style.width = next.naturalWidth * zoom + "px";
      img.style.transform = "";
    };
    next.src = url + "?x=" + at.x.toFixed(5) + "&y=" + at.y.toFixed(5) + "&w=" + Math.min(1600, w) + "&h=" + Math.min(1600, h);
    rig.$$("#inspect [data-zoom]").forEach((b) => b.classList.toggle("on", Number(b.dataset.zoom) === zoom));
  }
  function close() { box.classList.add("hidden"); img.removeAttribute("src"); url = null; }

  rig.$("#result-img").addEventListener("click", (ev) => {
    if (ev.currentTarget.classList.contains("cropping")) return;  // drawing a crop (crop.js), not zooming
    const el = ev.currentTarget, r = el.getBoundingClientRect();
    const scale = Math.min(r.width / el.naturalWidth, r.height / el.naturalHeight);
    const w = el.naturalWidth * scale, h = el.naturalHeight * scale;
    const fx = (ev.clientX - r.left - (r.width - w) / 2) / w, fy = (ev.clientY - r.top - (r.height - h) / 2) / h;
    open(el.src, Math.min(1, Math.max(0, fx)), Math.min(1, Math.max(0, fy)));
  });
  rig.$("#frames").addEventListener("click", (ev) => {
    const a = ev.target.closest("a");
    if (!a || !a.querySelector("img")) return;  // files the rig cannot show stay downloads
    ev.preventDefault();
    open(a.getAttribute("href"), 0.5, 0.5);
  });
  rig.$("#inspect-close").addEventListener("click", close);
  rig.$$("#inspect [data-zoom]").forEach((b) => b.addEventListener("click", () => { zoom = Number(b.dataset.zoom); show(); }));

  /* Drag to pan: the picture follows the finger, the next crop comes when it is let go. */
  const stage = rig.$("#inspect-stage");
  stage.addEventListener("pointerdown", (e) => { if (!pinch) { drag = { x: e.clientX, y: e.clientY, dx: 0, dy: 0 }; stage.setPointerCapture(e.pointerId); } });
  stage.addEventListener("pointermove", (e) => {
    if (!drag) return;
    drag.dx = e.clientX - drag.x; drag.dy = e.clientY - drag.y;
    img.style.transform = "translate(" + drag.dx + "px," + drag.dy + "px)";
  });
  stage.addEventListener("pointerup", () => {
    if (!drag || !size) { drag = null; return; }
    const moved = Math.abs(drag.dx) + Math.abs(drag.dy) > 4;
    if (moved) {
      at.x = Math.min(1, Math.max(0, at.x - drag.dx / zoom / size.width));
      at.y = Math.min(1, Math.max(0, at.y - drag.dy / zoom / size.height));
      show();
    }
    drag = null;
  });
  const gap = (t) => Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY);
  stage.addEventListener("touchstart", (e) => { if (e.touches.length === 2) { drag = null; pinch = { d0: gap(e.touches), d: gap(e.touches) }; } }, { passive: true });
  stage.addEventListener("touchmove", (e) => { if (pinch && e.touches.length === 2) pinch.d = gap(e.touches); }, { passive: true });
  stage.addEventListener("touchend", () => {
    if (!pinch) return;
    const ratio = pinch.d / pinch.d0;
    pinch = null;
    if (ratio > 1.2 && zoom === 1) { zoom = 2; show(); } else if (ratio < 0.83 && zoom === 2) { zoom = 1; show(); }
  });
})();
