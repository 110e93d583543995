"""The field kit's parts on their own: battery from a fake /sys/class/power_supply, the hotspot's
settings and Wi-Fi QR code, the clock's synchronised state and setting it from a phone's time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from rig.clock_sync import EARLIEST_PLAUSIBLE, ClockError, SystemClock
from rig.errors import UsageError
from rig.hotspot import Hotspot, generate_passphrase, hotspot_toml, parse_hotspot, read_hotspot
from rig.power_supply import read_battery


def supply(root: Path, name: str, **attrs: object) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in attrs.items():
        (folder / key).write_text(f"{value}\n")


def test_no_power_supply_class_means_nothing_shown(tmp_path):
    assert read_battery(tmp_path / "absent") is None
    supply(tmp_path, "AC", type="Mains", online=1)
    assert read_battery(tmp_path) is None


def test_ups_hat_reports_charge_and_time_left_from_energy_and_power(tmp_path):
    supply(tmp_path, "AC", type="Mains", online=0)
    # 10 Wh left of 20 Wh, drawing 5 W: 2 hours
    supply(tmp_path, "ups", type="Battery", present=1, status="Discharging", energy_now=10_000_000,
           energy_full=20_000_000, power_now=5_000_000)  # fmt: skip
    battery = read_battery(tmp_path)
    assert battery is not None
    assert battery.percent == 50.0 and battery.status == "Discharging"
    assert battery.time_left_s == pytest.approx(7200)
    assert battery.covers(3600) is True and battery.covers(3 * 3600) is False


def test_capacity_and_time_to_empty_win_and_charging_has_no_time_left(tmp_path):
    supply(tmp_path, "BAT0", type="Battery", status="Discharging", capacity=73, time_to_empty_now=1800,
           charge_now=1000, current_now=1)  # fmt: skip
    battery = read_battery(tmp_path)
    assert battery is not None and battery.percent == 73 and battery.time_left_s == 1800
    (tmp_path / "BAT0" / "status").write_text("Charging\n")
    charging = read_battery(tmp_path)
    assert charging is not None and charging.time_left_s is None and charging.covers(10**6) is True


def test_a_battery_that_cannot_tell_its_time_left_says_unknown(tmp_path):
    supply(tmp_path, "pisugar", type="Battery", status="Discharging", capacity="garbage")
    battery = read_battery(tmp_path)
    assert battery is not None and battery.percent is None and battery.time_left_s is None
    assert battery.covers(60) is None


def test_absent_battery_is_ignored(tmp_path):
    supply(tmp_path, "BAT1", type="Battery", present=0, capacity=90)
    assert read_battery(tmp_path) is None


def decode_qr(payload: str) -> str:
    png = segno.make(payload, error="m").png_data_uri(scale=8, border=4)
    import base64

    data = np.frombuffer(base64.b64decode(png.split(",", 1)[1]), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    text, _points, _straight = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_wifi_qr_code_is_the_standard_form_and_decodes():
    hotspot = Hotspot(ssid='rig;kit:"1"', passphrase="abc,def\\ghij")
    payload = hotspot.wifi_qr_payload()
    assert payload == 'WIFI:T:WPA;S:rig\\;kit\\:\\"1\\";P:abc\\,def\\\\ghij;;'
    assert decode_qr(payload) == payload


def test_generated_passphrase_is_valid_wpa2_and_differs_each_time():
    first, second = generate_passphrase(), generate_passphrase()
    assert first != second
    Hotspot(passphrase=first)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"passphrase": "short12"}, "8 to 63"),
        ({"passphrase": "x" * 64}, "8 to 63"),
        ({"passphrase": "päss-word-1"}, "ASCII"),
        ({"ssid": "x" * 33, "passphrase": "long-enough"}, "1 to 32 bytes"),
        ({"ssid": "é" * 17, "passphrase": "long-enough"}, "1 to 32 bytes"),
        ({"ssid": "", "passphrase": "long-enough"}, "1 to 32 bytes"),
    ],
)
def test_bad_hotspot_settings_are_one_line_errors(kwargs, named):
    with pytest.raises(UsageError, match=named):
        Hotspot(**kwargs)


def test_hotspot_file_round_trips_and_a_bad_one_names_itself(tmp_path):
    hotspot = Hotspot(ssid="kit 7", passphrase=generate_passphrase())
    path = tmp_path / "hotspot.toml"
    path.write_text(hotspot_toml(hotspot))
    assert read_hotspot(path) == hotspot
    assert read_hotspot(tmp_path / "none.toml") is None
    with pytest.raises(UsageError, match="unknown option 'colour'"):
        parse_hotspot('colour = "red"\n', "hotspot.toml")
    with pytest.raises(UsageError, match=r"hotspot.toml: hotspot passphrase is 3 characters"):
        parse_hotspot('passphrase = "abc"\n', "hotspot.toml")


class FakeTimedatectl:
    """systemd's timedatectl as timedated answers it: set-time refused while NTP is on."""

    def __init__(self, synchronized: str = "no") -> None:
        self.synchronized = synchronized
        self.ntp = True
        self.calls: list[list[str]] = []
        self.time_set: str | None = None

    def __call__(self, argv):
        self.calls.append(list(argv))
        if argv[1] == "show":
            return 0, self.synchronized
        if argv[1] == "set-ntp":
            self.ntp = argv[2] == "true"
            return 0, ""
        if argv[1] == "set-time":
            if self.ntp:
                return 1, "Failed to set time: Automatic time synchronization is enabled"
            self.time_set = argv[2]
            return 0, ""
        return 1, "unknown"


PHONE_TIME = dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.UTC).timestamp()


def test_ntp_synchronised_clock_is_reported_and_never_set_from_a_browser(tmp_path):
    clock = SystemClock(root=tmp_path, run=FakeTimedatectl("yes"))
    assert clock.state().synchronized and clock.state().source == "ntp"
    with pytest.raises(UsageError, match="already synchronised"):
        clock.set_from(PHONE_TIME)


def test_rtc_with_a_plausible_time_counts_as_synchronised(tmp_path):
    rtc = tmp_path / "sys/class/rtc/rtc0"
    rtc.mkdir(parents=True)
    (rtc / "since_epoch").write_text(f"{int(EARLIEST_PLAUSIBLE) + 1000}\n")
    clock = SystemClock(root=tmp_path, run=FakeTimedatectl("no"), now=lambda: PHONE_TIME)
    assert clock.state().source == "rtc" and clock.state().synchronized
    (rtc / "since_epoch").write_text("86400\n")  # a flat RTC battery
    assert not clock.state().synchronized


def test_unsynchronised_clock_is_set_through_timedated_with_ntp_off_then_on(tmp_path):
    fake = FakeTimedatectl("no")
    clock = SystemClock(root=tmp_path, run=fake)
    assert clock.state().synchronized is False
    state = clock.set_from(PHONE_TIME, newest_file_s=PHONE_TIME - 3600)
    assert fake.time_set == "2026-12-06 10:30:00 UTC"
    assert fake.ntp is True
    assert state.synchronized and state.source == "browser"


def test_a_phone_time_far_from_the_newest_stack_needs_confirmation(tmp_path):
    fake = FakeTimedatectl("no")
    clock = SystemClock(root=tmp_path, run=fake)
    with pytest.raises(UsageError, match="days from the newest stack's time: confirm"):
        clock.set_from(PHONE_TIME, newest_file_s=PHONE_TIME - 3 * 86400)
    assert fake.time_set is None
    clock.set_from(PHONE_TIME, newest_file_s=PHONE_TIME - 3 * 86400, confirm=True)
    assert fake.time_set is not None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 0, True, "2026-12-06", 1e300])
def test_nonsense_browser_times_are_refused(tmp_path, bad):
    fake = FakeTimedatectl("no")
    with pytest.raises(UsageError, match="time"):
        SystemClock(root=tmp_path, run=fake).set_from(bad)
    assert fake.time_set is None


def test_timedated_refusing_is_a_clear_error_and_ntp_is_back_on(tmp_path):
    fake = FakeTimedatectl("no")

    def refusing(argv):
        if argv[1] == "set-time":
            fake.calls.append(list(argv))
            return 1, "Access denied"
        return fake(argv)

    with pytest.raises(ClockError, match="set-time .* failed: Access denied"):
        SystemClock(root=tmp_path, run=refusing).set_from(PHONE_TIME)
    assert fake.ntp is True
