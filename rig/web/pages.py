"""HTML pages. They are thin shells: the data comes from the JSON API and the SSE stream."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, g, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue

from rig.lan import HOTSPOT_ADDRESS
from rig.web.api import profile_schema
from rig.web.context import pairing_urls, rail_can_home, state
from rig.web.fieldkit import system_summary, wifi_join

pages = Blueprint("pages", __name__)
MAX_PAIR_LINKS = 6

NAV = (
    ("stack", "/", "Stack"),
    ("jog", "/jog", "Jog"),
    ("live", "/live", "Focus"),
    ("gallery", "/gallery", "Gallery"),
    ("profiles", "/profiles", "Profiles"),
    ("system", "/system", "System"),
)


def _page(template: str, page: str, **extra: Any) -> str:
    st = state()
    return render_template(
        template,
        page=page,
        nav=NAV,
        lan=st.lan,
        loopback=g.loopback,
        paired=g.paired,
        csrf=st.guard.csrf_for(g.client),
        boot=st.boot,
        blank_s=system_summary(st)["screen_blank_s"] if g.loopback else 0,
        **extra,
    )


@pages.get("/")
def stack_page() -> ResponseReturnValue:
    # the defaults as real values from the first paint (the script fills the same ones)
    shown = {row["name"]: row["shown"] for row in profile_schema() if row["shown"] not in (None, "")}
    return _page("stack.html", "stack", shown=shown)


@pages.get("/jog")
def jog_page() -> ResponseReturnValue:
    return _page("jog.html", "jog", can_home=rail_can_home(state()))


@pages.get("/live")
def live_page() -> ResponseReturnValue:
    return _page("live.html", "live")


@pages.get("/gallery")
def gallery_page() -> ResponseReturnValue:
    return _page("gallery.html", "gallery")


@pages.get("/gallery/<path:sid>")
def stack_detail_page(sid: str) -> ResponseReturnValue:
    state().gallery.folder(sid)  # 404 page for unknown or unsafe ids
    return _page("stack_detail.html", "gallery", sid=sid)


@pages.get("/profiles")
def profiles_page() -> ResponseReturnValue:
    return _page("profiles.html", "profiles")


@pages.get("/system")
def system_page() -> ResponseReturnValue:
    st = state()
    pairing = None
    if st.lan and g.loopback and st.guard.token:
        links = []
        for url in pairing_urls(st)[:MAX_PAIR_LINKS]:
            host = urlsplit(url).hostname or ""
            label = f"{urlsplit(url).netloc}" + (" (hotspot)" if host == HOTSPOT_ADDRESS else "")
            links.append({"url": url, "label": label, "qr": qr_svg(url)})
        pairing = {"token": st.guard.token, "links": links}
    wifi = wifi_join(st) if g.loopback else None  # the passphrase: on the rig's own screen only
    if wifi and "payload" in wifi:
        wifi["qr"] = qr_svg(wifi["payload"])
    return _page("system.html", "system", pairing=pairing, wifi=wifi)


@pages.route("/pair", methods=["GET"])
def pair() -> ResponseReturnValue:
    """The QR code's target: checks the token and remembers it in a cookie."""
    st = state()
    token = request.args.get("token")
    client = request.remote_addr or "?"
    wait_s = st.pair_failures.retry_after_s(client) if token is not None else 0.0
    if wait_s > 0:
        refused = f"Too many wrong tokens from this device; try again in {math.ceil(wait_s)} s."
        return _page("pair.html", "pair", error=refused), 429, {"Retry-After": str(math.ceil(wait_s))}
    if token is not None and st.guard.token_ok(token):
        resp = make_response(redirect("/", code=303))
        resp.set_cookie(
            "rig_pair", st.guard.token or token.strip(), max_age=365 * 86400, httponly=True, samesite="Strict"
        )
        return resp
    if token is not None:
        st.pair_failures.failed(client)
    error = "That token does not match the one on the rig's screen." if token else None
    return _page("pair.html", "pair", error=error), (401 if token else 200)


def qr_svg(text: str) -> str:
    """An inline SVG QR code that scales to its box (a viewBox, no fixed size), with the quiet
    zone of 4 modules stock readers expect (ISO/IEC 18004)."""
    import segno

    qr = segno.make(text, error="m")
    return qr.svg_inline(scale=1, dark="#000", light="#fff", border=4, omitsize=True)
