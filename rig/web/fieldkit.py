"""The field kit in the web UI: the clock (``POST /api/clock``), the battery and clock summary every
page's status bar and the System page show (``system_summary``), and the Wi-Fi QR code of the
kit's hotspot for the touchscreen (``wifi_qr``). See docs/field-kit.md and docs/api.md."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from rig.clock_sync import UnconfirmedJump
from rig.errors import UsageError
from rig.hotspot import read_hotspot
from rig.run_estimate import newest_stack
from rig.web import operations as ops
from rig.web.context import WebState, state
from rig.web.inputs import accepts, read_body
from rig.web.security import ApiError

log = logging.getLogger(__name__)
fieldkit_api = Blueprint("fieldkit_api", __name__, url_prefix="/api")
SUMMARY_MAX_AGE_S = 5.0  # the battery and the clock change slowly; every status stream asks


def system_summary(st: WebState, max_age_s: float | None = None) -> dict[str, Any]:
    """``{"battery": {...} | None, "clock": {...}, "field_kit": bool, "screen_blank_s": s}``, read
    at most every ``max_age_s`` for all clients together."""
    max_age_s = SUMMARY_MAX_AGE_S if max_age_s is None else max_age_s
    with st.summary_lock:
        cached = st.summary
        if cached and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
        m = st.machine
        try:
            battery = m.battery()
        except Exception:  # noqa: BLE001 - a battery that cannot be read is not shown
            log.exception("reading the battery failed")
            battery = None
        system = m.config.system
        summary = {
            "battery": battery.to_dict() if battery else None,
            "clock": m.clock.current().to_dict(),
            "field_kit": system.field_kit,
            "screen_blank_s": system.screen_blank_s if system.field_kit else 0,
        }
        st.summary = (time.monotonic(), summary)
        return summary


def forget_summary(st: WebState) -> None:
    with st.summary_lock:
        st.summary = None


@fieldkit_api.post("/clock")
@accepts(ops.CLOCK)
def set_clock() -> ResponseReturnValue:
    """Set the rig's unsynchronised clock from a paired browser's time (seconds since 1970)."""
    st = state()
    data = read_body()
    epoch_s, confirm = data["time"], data["confirm"]
    st.lock.require(g.client, g.label)
    newest = newest_stack(st.machine.config.output.root)
    try:
        clock = st.machine.clock.set_from(epoch_s, newest[1] if newest else None, confirm)
    except UnconfirmedJump as exc:
        raise ApiError(400, str(exc), "confirm") from None
    except UsageError as exc:
        raise ApiError(400, str(exc)) from None
    forget_summary(st)
    return jsonify({"clock": clock.to_dict()})


def wifi_join(st: WebState) -> dict[str, Any] | None:
    """The hotspot's name, passphrase and Wi-Fi QR payload (for the touchscreen only: it carries
    the passphrase); None without a hotspot.toml. A broken file is shown as its one-line error."""
    if st.hotspot_file is None:
        return None
    try:
        hotspot = read_hotspot(st.hotspot_file)
    except UsageError as exc:
        return {"error": str(exc)}
    if hotspot is None:
        return None
    return {"ssid": hotspot.ssid, "passphrase": hotspot.passphrase, "payload": hotspot.wifi_qr_payload()}
