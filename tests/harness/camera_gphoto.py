"""Contract harness: the gphoto camera on libgphoto2's virtual camera (VCAMERADIR is set in
conftest.py before gphoto2 is imported; every capture returns a copy of its first JPEG).

Faults are injected at the libgphoto2 call boundary by a thin wrapper around the real
``gphoto2.Camera``: ``unplug()`` makes every call fail as a pulled USB cable does (I/O error,
then "could not find the device" on re-init); ``timeout()`` makes the next capture hang;
``card_full()`` makes the next capture fail as the virtual camera's does when its store
fills. ``raw_plus_jpeg`` makes every shot write two files (the second announced by a
``GP_EVENT_FILE_ADDED`` event, as RAW+JPEG bodies do). libgphoto2's virtual camera has no focus
drive, so ``focus=True`` adds a Canon-style ``manualfocusdrive`` radio widget (and
``viewfinder``) answered by the wrapper.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any

from rig.config import CameraConfig
from rig.config.schema import from_table

CONFIG = {"backend": "gphoto", "gphoto": {"capture_target": "card", "retries": 1}}
CANON_DRIVE = ("Near 3", "Near 2", "Near 1", "None", "Far 1", "Far 2", "Far 3")


class StandInWidget:
    """The few CameraWidget methods the backend uses, for widgets the virtual camera lacks."""

    def __init__(self, name: str, kind: int, choices: tuple[str, ...] = (), value: Any = None) -> None:
        self.name, self.kind, self.choices, self.value = name, kind, choices, value

    def get_name(self) -> str:
        return self.name

    def get_type(self) -> int:
        return self.kind

    def count_choices(self) -> int:
        return len(self.choices)

    def get_choice(self, i: int) -> str:
        return self.choices[i]

    def get_value(self) -> Any:
        return self.value

    def set_value(self, value: Any) -> None:
        import gphoto2 as gp

        if self.choices and value not in self.choices:
            raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        self.value = value


class GphotoControl:
    returns_frames = True
    has_preview = False  # the virtual camera cannot capture_preview

    def __init__(self, focus: bool, drive_s: float) -> None:
        self.focus, self.drive_s = focus, drive_s
        self.unplugged = False
        self.hang_next_capture = False
        self.full_next_capture = False
        self.released = threading.Event()
        self.focus_log: list[Any] = []  # every manualfocusdrive value set, in order
        self.viewfinder: Any = None
        self.calls: list[str] = []
        self.raw: Any = None  # the current real gphoto2.Camera
        self.captures = 0
        self.scheduled: dict[int, str] = {}
        self.failures: dict[str, list[int]] = {}
        self.truncate_next_download = False  # capture number -> "unplug" | "timeout" | "card_full"
        self.raw_plus_jpeg = False  # each shot writes a second file, announced as GP_EVENT_FILE_ADDED
        self.events: list[Any] = []  # queued (event type, data) answered by wait_for_event

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

    def factory(self) -> Any:
        import gphoto2 as gp

        if self.unplugged:
            raise gp.GPhoto2Error(gp.GP_ERROR_IO_USB_FIND)
        self.raw = gp.Camera()
        return EmulatedCamera(self.raw, self)


class Truncated:
    """A CameraFile whose data lost its tail on the wire."""

    def __init__(self, cam_file: Any) -> None:
        self.data = bytes(memoryview(cam_file.get_data_and_size()))[:-100]

    def get_data_and_size(self) -> bytes:
        return self.data


class EmulatedCamera:
    """A real ``gphoto2.Camera`` with fault injection and the missing focus widgets."""

    def __init__(self, raw: Any, ctl: GphotoControl) -> None:
        import gphoto2 as gp

        self._raw, self._ctl, self._gp = raw, ctl, gp
        self._drive = StandInWidget("manualfocusdrive", gp.GP_WIDGET_RADIO, CANON_DRIVE, "None")
        self._viewfinder = StandInWidget("viewfinder", gp.GP_WIDGET_TOGGLE, (), 0)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._raw, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._ctl.calls.append(name)
            if name == "capture":
                self._ctl.captures += 1
                fault = self._ctl.scheduled.pop(self._ctl.captures, None)
                if fault:
                    getattr(self._ctl, fault)()
            if self._ctl.unplugged:
                code = self._gp.GP_ERROR_IO_USB_FIND if name == "init" else self._gp.GP_ERROR_IO
                raise self._gp.GPhoto2Error(code)
            if self._ctl.failures.get(name):
                raise self._gp.GPhoto2Error(self._ctl.failures[name].pop(0))
            if name == "file_get" and self._ctl.truncate_next_download:
                self._ctl.truncate_next_download = False
                return Truncated(attr(*args, **kwargs))
            if name == "capture" and self._ctl.hang_next_capture:
                self._ctl.hang_next_capture = False
                self._ctl.released.wait(5)  # a wedged USB transfer
                raise self._gp.GPhoto2Error(self._gp.GP_ERROR_IO)
            if name == "capture" and self._ctl.full_next_capture:
                self._ctl.full_next_capture = False
                raise self._gp.GPhoto2Error(self._gp.GP_ERROR_NO_MEMORY)
            if name == "wait_for_event" and self._ctl.events:
                return self._ctl.events.pop(0)
            result = attr(*args, **kwargs)
            if name == "capture" and self._ctl.raw_plus_jpeg:
                # the virtual camera writes one file per capture: a second capture stands in for
                # the shot's other file, announced the way RAW+JPEG bodies do, after capture()
                other = attr(*args, **kwargs)
                self._ctl.events += [(self._gp.GP_EVENT_FILE_ADDED, other), (self._gp.GP_EVENT_CAPTURE_COMPLETE, None)]
            return result

        return call

    def get_single_config(self, name: str) -> Any:
        if self._ctl.focus and name in ("manualfocusdrive", "viewfinder"):
            return self._drive if name == "manualfocusdrive" else self._viewfinder
        return self.__getattr__("get_single_config")(name)

    def set_single_config(self, name: str, widget: Any) -> None:
        if self._ctl.focus and name in ("manualfocusdrive", "viewfinder"):
            if self._ctl.unplugged:
                raise self._gp.GPhoto2Error(self._gp.GP_ERROR_IO)
            if name == "viewfinder":
                self._ctl.viewfinder = widget.get_value()
                return
            self._ctl.focus_log.append(widget.get_value())
            if widget.get_value() != "None":
                time.sleep(self._ctl.drive_s)  # the motor takes a moment per drive
            return
        self.__getattr__("set_single_config")(name, widget)


@contextmanager
def make_camera(tmp_path, focus: bool = False, drive_s: float = 0.004, timeout_s: float = 0.5, **overrides):
    from rig.camera.gphoto import GphotoCamera

    table = {**CONFIG, "gphoto": {**CONFIG["gphoto"], **overrides}}
    ctl = GphotoControl(focus, drive_s)
    camera = GphotoCamera(from_table(CameraConfig, table, "harness"), camera_factory=ctl.factory, timeout_s=timeout_s)
    try:
        yield camera, ctl
    finally:
        ctl.released.set()
        camera.close()
        if ctl.raw is not None:  # end the virtual camera's session even after an emulated unplug,
            try:  # or its capture counter is not reset
                ctl.raw.exit()
            except Exception:  # noqa: BLE001
                pass
