"""Contract harness: the gphoto camera on libgphoto2's virtual camera (VCAMERADIR is set in
conftest.py before gphoto2 is imported; every capture returns a copy of its first JPEG).

Faults are injected at the libgphoto2 call boundary by a thin wrapper around the real
``gphoto2.Camera``: ``unplug()`` makes every call fail as a pulled USB cable does (I/O error,
then "could not find the device" on re-init); ``timeout()`` makes the next capture hang;
``card_full()`` makes the next capture fail as the virtual camera's does when its store fills.

What the virtual camera lacks is stood in for, copying libgphoto2 2.5.34 and gphoto2 2.5.32
(the versions docs/hardware-checklist.md names):

* ``raw_plus_jpeg``: each shot also writes ``<stem>.CR2``. As a real body does, its
  ``GP_EVENT_FILE_ADDED`` comes *after* ``capture()`` returned, ``raw_delay_s`` late and after
  an unrelated property-change event, then ``GP_EVENT_CAPTURE_COMPLETE`` (libgphoto2
  camlibs/ptp2/library.c, ``camera_wait_for_event``: EOS ObjectAdded -> FILE_ADDED,
  PropertyChanged -> UNKNOWN, CameraStatus 0 -> CAPTURE_COMPLETE). ``wait_for_event(ms)``
  returns an event only once it is due, else TIMEOUT after the whole wait, as the real call.
* ``focus="canon"``: ``manualfocusdrive`` as ``_get_Canon_EOS_MFDrive`` / ``_put_Canon_EOS_MFDrive``
  (camlibs/ptp2/config.c): choices Near 1..3 / None / Far 1..3; "None" sends nothing; a drive
  returns at once while the lens moves ``n * drive_s``; a drive sent before the lens stopped is
  answered "busy" (-110), or dropped silently with ``canon_too_soon = "drop"``; outside live
  view a drive fails (GP_ERROR).
* ``focus="nikon"``: a range widget -32767..32767 as ``_get_Nikon_MFDrive``; ``_put_Nikon_MFDrive``
  waits for the drive (``nikon_wait_busy``), answers GP_ERROR outside live view, and -113
  (GP_ERROR_CAMERA_ERROR) for a step below ``nikon_min_units`` ("stepping too small") or at the
  end of ``nikon_travel`` ("at limit").
* A (re)connect ends live view (``viewfinder`` back to 0), as on the bodies.
* ``nikon_settings``: the virtual camera has ``f-number``, ``shutterspeed`` and
  ``exposurecompensation`` widgets but no ``iso``, ``whitebalance`` or ``imagequality``
  (``get_single_config`` answers -2, "bad parameters", as for any widget a body lacks); these
  stand in for a Nikon's: ``iso`` a radio widget of numbers (``_get_INT`` on ExposureIndex),
  ``whitebalance`` the ``whitebalance[]`` table's Nikon entries (``_get_WhiteBalance``),
  ``imagequality`` the ``compressionsetting[]`` table (``_get_CompressionSetting``), with its
  "NEF (Raw)"-style choices; ``read_only`` names widgets shown read-only (``get_readonly``).
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from rig.config import CameraConfig
from rig.config.schema import from_table

# extra_files_wait_s: the virtual camera sometimes answers wait_for_event only after the whole
# wait, as a real body does; the default 3 s would outlast the harness's 0.5 s call deadline
CONFIG = {"backend": "gphoto", "gphoto": {"capture_target": "card", "retries": 1, "extra_files_wait_s": 0.1}}
CANON_DRIVE = ("Near 1", "Near 2", "Near 3", "None", "Far 1", "Far 2", "Far 3")  # config.c order
GP_ERROR, GP_ERROR_CAMERA_ERROR = -1, -113
NIKON_RANGE = (-32767.0, 32767.0, 1.0)
NIKON_ISO = tuple(str(iso) for iso in (100, 125, 160, 200, 250, 320, 400, 500, 640, 800, 1000, 1600, 3200, 6400))
NIKON_WHITE_BALANCE = (
    "Automatic", "Daylight", "Fluorescent", "Tungsten", "Flash", "Cloudy", "Shade", "Color Temperature", "Preset"
)  # fmt: skip
NIKON_QUALITY = ("JPEG Basic", "JPEG Normal", "JPEG Fine", "NEF (Raw)", "NEF+Basic", "NEF+Normal", "NEF+Fine")
VIRTUAL_CAMERAS: weakref.WeakSet[Any] = weakref.WeakSet()  # every gphoto2.Camera made, while alive


class StandInWidget:
    """The few CameraWidget methods the backend uses, for widgets the virtual camera lacks."""

    def __init__(self, name: str, kind: int, choices: tuple[str, ...] = (), value: Any = None, rng: Any = None) -> None:
        self.name, self.kind, self.choices, self.value, self.rng = name, kind, choices, value, rng
        self.read_only = False

    def get_name(self) -> str:
        return self.name

    def get_type(self) -> int:
        return self.kind

    def count_choices(self) -> int:
        return len(self.choices)

    def get_choice(self, i: int) -> str:
        return self.choices[i]

    def get_range(self) -> tuple[float, float, float]:
        return self.rng

    def get_value(self) -> Any:
        return self.value

    def get_readonly(self) -> int:
        return int(self.read_only)

    def set_value(self, value: Any) -> None:
        import gphoto2 as gp

        if self.choices and value not in self.choices:
            raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        self.value = value


class GphotoControl:
    returns_frames = True
    has_preview = False  # the virtual camera cannot capture_preview

    def __init__(self, focus: bool | str, drive_s: float) -> None:
        self.focus = "canon" if focus is True else (focus or "")
        self.drive_s = drive_s
        self.unplugged = False
        self.hang_next_capture = False
        self.full_next_capture = False
        self.released = threading.Event()
        self.focus_log: list[Any] = []  # every drive the lens carried out, in order
        self.dropped: list[Any] = []  # Canon drives sent while the lens still moved, ignored
        self.busy_answers = 0  # Canon drives answered "busy"
        self.canon_too_soon = "busy"  # or "drop"
        self.lens_busy_until = 0.0
        self.lens_units = 0  # Nikon: where the lens is, in drive units
        self.nikon_min_units = 5
        self.nikon_travel = (-1000, 1000)
        self.viewfinder: Any = 0
        self.calls: list[str] = []
        self.raw: Any = None  # the current real gphoto2.Camera
        self.captures = 0
        self.scheduled: dict[int, str] = {}
        self.failures: dict[str, list[int]] = {}
        self.truncate_next_download = False
        self.raw_plus_jpeg = False  # each shot also writes <stem>.CR2, announced late
        self.raw_delay_s = 0.05
        self.events: list[tuple[float, int, Any]] = []  # (due, event type, data) for wait_for_event
        self.files: dict[tuple[str, str], bytes] = {}  # stand-in files (the RAWs)
        self.shots: list[str] = []  # name stem of every shot, in order
        self.nikon_settings = False  # stand-in iso / whitebalance / imagequality widgets
        self.settings_widgets: dict[str, StandInWidget] = {}  # made on first use, kept over reconnects
        self.read_only: set[str] = set()  # widgets the body shows read-only
        self.settings_log: list[tuple[str, Any]] = []  # every setting widget written: (name, value)

    def fail_next(self, call: str, code: int, times: int = 1) -> None:
        """The next ``times`` calls of ``call`` (e.g. "capture") fail with gphoto2 error ``code``."""
        self.failures.setdefault(call, []).extend([code] * times)

    def fault_at_capture(self, n: int, fault: str) -> None:
        """Inject ``fault`` just before the ``n``-th capture (1-based) of this session."""
        assert fault in ("unplug", "timeout", "card_full"), fault
        self.scheduled[n] = fault

    def unplug(self) -> None:
        self.unplugged = True

    def timeout(self) -> None:
        self.hang_next_capture = True

    def card_full(self) -> None:
        """The next capture fails as the virtual camera's does when its store fills
        (GP_ERROR_NO_MEMORY). Filling it for real breaks the virtual camera for the rest of the
        process, so tests/test_gphoto_camera.py does that in a subprocess."""
        self.full_next_capture = True

    def drives(self) -> list[Any]:
        return [v for v in self.focus_log if v != "None"]

    def queue_event(self, delay_s: float, kind: int, data: Any = None) -> None:
        self.events.append((time.monotonic() + delay_s, kind, data))
        self.events.sort(key=lambda e: e[0])

    def factory(self) -> Any:
        import gphoto2 as gp

        if self.unplugged:
            raise gp.GPhoto2Error(gp.GP_ERROR_IO_USB_FIND)
        self.raw = gp.Camera()
        VIRTUAL_CAMERAS.add(self.raw)
        return EmulatedCamera(self.raw, self)


class Truncated:
    """A CameraFile whose data lost its tail on the wire."""

    def __init__(self, cam_file: Any) -> None:
        self.data = bytes(memoryview(cam_file.get_data_and_size()))[:-100]

    def get_data_and_size(self) -> bytes:
        return self.data


class StandInFile:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_data_and_size(self) -> bytes:
        return self.data


def raw_file(stem: str) -> bytes:
    """A small stand-in CR2 (a TIFF header with Canon's "CR" marker)."""
    return b"II*\x00\x10\x00\x00\x00CR\x02\x00" + stem.encode() * 64


class EmulatedCamera:
    """A real ``gphoto2.Camera`` with fault injection and the stand-ins listed above."""

    def __init__(self, raw: Any, ctl: GphotoControl) -> None:
        import gphoto2 as gp

        self._raw, self._ctl, self._gp = raw, ctl, gp
        if ctl.focus == "nikon":
            self._drive = StandInWidget("manualfocusdrive", gp.GP_WIDGET_RANGE, value=0.0, rng=NIKON_RANGE)
        else:
            self._drive = StandInWidget("manualfocusdrive", gp.GP_WIDGET_RADIO, CANON_DRIVE, "None")
        self._viewfinder = StandInWidget("viewfinder", gp.GP_WIDGET_TOGGLE, (), 0)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._raw, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            ctl, gp = self._ctl, self._gp
            ctl.calls.append(name)
            if name in ("init", "exit"):
                ctl.viewfinder = 0  # a (re)connect ends live view
            if name == "capture":
                ctl.captures += 1
                fault = ctl.scheduled.pop(ctl.captures, None)
                if fault:
                    getattr(ctl, fault)()
            if ctl.unplugged:
                raise gp.GPhoto2Error(gp.GP_ERROR_IO_USB_FIND if name == "init" else gp.GP_ERROR_IO)
            if ctl.failures.get(name):
                raise gp.GPhoto2Error(ctl.failures[name].pop(0))
            if name == "wait_for_event":
                return self._wait_for_event(*args)
            if name in ("file_get", "file_get_info", "file_delete") and tuple(args[:2]) in ctl.files:
                return self._stand_in_file(name, tuple(args[:2]))
            if name == "file_get" and ctl.truncate_next_download:
                ctl.truncate_next_download = False
                return Truncated(attr(*args, **kwargs))
            if name == "capture" and ctl.hang_next_capture:
                ctl.hang_next_capture = False
                ctl.released.wait(30)  # a wedged USB transfer: longer than any timeout_s
                raise gp.GPhoto2Error(gp.GP_ERROR_IO)
            if name == "capture" and ctl.full_next_capture:
                ctl.full_next_capture = False
                raise gp.GPhoto2Error(gp.GP_ERROR_NO_MEMORY)
            result = attr(*args, **kwargs)
            if name == "capture":
                ctl.shots.append(result.name.rsplit(".", 1)[0])
            if name == "capture" and ctl.raw_plus_jpeg:
                stem = result.name.rsplit(".", 1)[0]
                where = (result.folder, f"{stem}.CR2")
                ctl.files[where] = raw_file(stem)
                ctl.queue_event(0.0, gp.GP_EVENT_UNKNOWN, 'PTP Property d1d3 changed, "Focus Info" to ""')
                ctl.queue_event(
                    ctl.raw_delay_s, gp.GP_EVENT_FILE_ADDED, SimpleNamespace(folder=where[0], name=where[1])
                )
                ctl.queue_event(ctl.raw_delay_s + 0.01, gp.GP_EVENT_CAPTURE_COMPLETE, None)
            return result

        return call

    def _wait_for_event(self, timeout_ms: int) -> tuple[int, Any]:
        ctl, gp = self._ctl, self._gp
        if not ctl.events:  # the virtual camera itself: nothing pending, it answers at once
            return self._raw.wait_for_event(timeout_ms)
        due, kind, data = ctl.events[0]
        wait = due - time.monotonic()
        if wait > timeout_ms / 1000:
            time.sleep(timeout_ms / 1000)
            return gp.GP_EVENT_TIMEOUT, None
        time.sleep(max(0.0, wait))
        ctl.events.pop(0)
        return kind, data

    def _stand_in_file(self, name: str, where: tuple[str, str]) -> Any:
        gp = self._gp
        data = self._ctl.files[where]
        if name == "file_delete":
            del self._ctl.files[where]
            return None
        if name == "file_get_info":
            return SimpleNamespace(file=SimpleNamespace(fields=gp.GP_FILE_INFO_SIZE, size=len(data)))
        return StandInFile(data)

    def _setting_widget(self, name: str) -> StandInWidget | None:
        gp, ctl = self._gp, self._ctl
        if not ctl.nikon_settings or name not in ("iso", "whitebalance", "imagequality"):
            return None
        if name not in ctl.settings_widgets:
            choices, value = {
                "iso": (NIKON_ISO, "100"),
                "whitebalance": (NIKON_WHITE_BALANCE, "Automatic"),
                "imagequality": (NIKON_QUALITY, "JPEG Fine"),
            }[name]
            ctl.settings_widgets[name] = StandInWidget(name, gp.GP_WIDGET_RADIO, choices, value)
        return ctl.settings_widgets[name]

    def get_single_config(self, name: str) -> Any:
        setting = self._setting_widget(name)
        if setting is not None:
            self._ctl.calls.append("get_single_config")
            if self._ctl.unplugged:
                raise self._gp.GPhoto2Error(self._gp.GP_ERROR_IO)
            setting.read_only = name in self._ctl.read_only
            return copy.copy(setting)  # as libgphoto2: the camera changes only at set_single_config
        if self._ctl.focus and name in ("manualfocusdrive", "viewfinder"):
            if self._ctl.unplugged:
                raise self._gp.GPhoto2Error(self._gp.GP_ERROR_IO)
            return self._drive if name == "manualfocusdrive" else self._viewfinder
        return self.__getattr__("get_single_config")(name)

    def set_single_config(self, name: str, widget: Any) -> None:
        ctl, gp = self._ctl, self._gp
        ctl.settings_log.append((name, widget.get_value()))
        if self._setting_widget(name) is not None:
            ctl.calls.append(f"set {name}")
            if ctl.unplugged:
                raise gp.GPhoto2Error(gp.GP_ERROR_IO)
            self._ctl.settings_widgets[name].value = widget.get_value()
            return
        if not (ctl.focus and name in ("manualfocusdrive", "viewfinder")):
            self.__getattr__("set_single_config")(name, widget)
            return
        ctl.calls.append(f"set {name}")
        if ctl.unplugged:
            raise gp.GPhoto2Error(gp.GP_ERROR_IO)
        if ctl.failures.get(f"set {name}"):
            raise gp.GPhoto2Error(ctl.failures[f"set {name}"].pop(0))
        if name == "viewfinder":
            ctl.viewfinder = widget.get_value()
            return
        value = widget.get_value()
        if ctl.focus == "nikon":
            self._nikon_drive(float(value))
        elif value != "None":  # config.c: "None" returns GP_OK without a word to the camera
            self._canon_drive(value)

    def _canon_drive(self, value: str) -> None:
        ctl, gp = self._ctl, self._gp
        if ctl.viewfinder != 1:
            raise gp.GPhoto2Error(GP_ERROR)
        now = time.monotonic()
        if now < ctl.lens_busy_until:  # the lens still moves from the last drive
            if ctl.canon_too_soon == "drop":
                ctl.dropped.append(value)
                return
            ctl.busy_answers += 1
            raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
        ctl.focus_log.append(value)
        ctl.lens_busy_until = now + int(value.split()[-1]) * ctl.drive_s  # and return at once

    def _nikon_drive(self, value: float) -> None:
        ctl, gp = self._ctl, self._gp
        if ctl.viewfinder != 1:
            raise gp.GPhoto2Error(GP_ERROR)  # "Nikon manual focus works only in LiveView mode."
        units = int(abs(value)) or 1
        if units < ctl.nikon_min_units:
            raise gp.GPhoto2Error(GP_ERROR_CAMERA_ERROR)  # "stepping too small"
        time.sleep(ctl.drive_s)  # _put_Nikon_MFDrive waits for the drive (nikon_wait_busy)
        lo, hi = ctl.nikon_travel
        goal = ctl.lens_units + (units if value > 0 else -units)
        ctl.lens_units = max(lo, min(hi, goal))
        if goal != ctl.lens_units:
            raise gp.GPhoto2Error(GP_ERROR_CAMERA_ERROR)  # "Nikon manual focus at limit."
        ctl.focus_log.append(value)


@contextmanager
def make_camera(tmp_path, focus: bool | str = False, drive_s: float = 0.004, timeout_s: float = 3.0, **overrides):
    # timeout_s: long enough for a reconnect to the virtual camera on a loaded 2-core machine (0.5 s was not)
    from rig.camera.gphoto import GphotoCamera

    forget_earlier_virtual_cameras()
    wait = {"focus_drive_wait_s": drive_s * 1.25} if focus else {}
    table = {**CONFIG, "gphoto": {**CONFIG["gphoto"], **wait, **overrides}}
    ctl = GphotoControl(focus, drive_s)
    camera = GphotoCamera(from_table(CameraConfig, table, "harness"), camera_factory=ctl.factory, timeout_s=timeout_s)
    try:
        yield camera, ctl
    finally:
        ctl.released.set()
        camera.close()
        release_virtual_camera(ctl)


def forget_earlier_virtual_cameras() -> None:
    """Make sure no virtual camera of an earlier test is alive before this test makes one.

    libgphoto2's virtual camera keeps its state process-wide, in statics of the vusb port
    library (libgphoto2_port/vusb/vcamera.c): ``capcnt`` in ``ptp_initiatecapture_write`` (it
    starts at 98, counts two per shot and declares the store full past 150, i.e. after 26
    shots: GP_ERROR_NO_MEMORY, then GP_ERROR for every capture), ``first_dirent`` (every file
    ever shot) and ``first_interrupt`` (the event queue, shared by every session). Neither
    ``exit()`` nor a new ``gphoto2.Camera`` resets them; only freeing the last camera does (the
    port library is unloaded with it). A camera left to Python's cyclic garbage collector (e.g.
    held by a ``pytest.raises(...) as info`` cycle) kept that state into the next tests, which
    then failed at random with a full store. So each test starts from a freed virtual camera,
    and one still referenced (a leak, not garbage) is a clear error here.
    """
    import gc

    if VIRTUAL_CAMERAS:  # usually freed already: a collection costs ~50-70 ms on a loaded 2-core box
        gc.collect()
    alive = len(VIRTUAL_CAMERAS)
    assert not alive, f"{alive} virtual camera(s) of an earlier test still referenced: its state would leak"


def release_virtual_camera(ctl: GphotoControl) -> None:
    """End the raw session (after an emulated unplug the backend's own exit never reached it)
    and drop the harness's reference, so the camera is freed when the test's objects are."""
    import gphoto2 as gp

    raw, ctl.raw = ctl.raw, None
    if raw is not None:
        try:
            raw.exit()
        except gp.GPhoto2Error:
            pass
