"""The kiosk's pieces without a screen: the start page in Debian's Chromium (it must say
"starting", then "not running", and open the UI as soon as it answers) and the launcher's
command line. (rig.service's readiness is `rig serve`'s own READY=1: tests/test_web_serve.py.)"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
PAGE = CHECKOUT / "web/kiosk/index.html"
LAUNCHER = CHECKOUT / "scripts/rig-kiosk"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"<title>rig UI</title>hello from rig"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LateServer:
    """An HTTP server whose port is reserved (bound) at once but which refuses connections
    until ``listen()``: a rig.service that is still starting."""

    def __init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello, bind_and_activate=False)
        self.httpd.server_bind()
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"

    def listen(self) -> None:
        self.httpd.server_activate()
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def late_server():
    server = LateServer()
    yield server
    server.httpd.server_close()


@pytest.mark.browser
def test_start_page_says_starting_then_not_running_then_opens_the_ui(late_server):
    assert CHROMIUM, "Debian's chromium is missing: apt-get install chromium (.ci/run does); the test never skips"
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{PAGE.as_uri()}?starting=2#{late_server.url}")
            assert page.text_content("#title") == "Starting the rig\u2026"
            page.wait_for_function("document.body.classList.contains('down')", timeout=10_000)
            assert page.text_content("#title") == "The rig is not running"
            assert "journalctl -u rig" in page.text_content("#help")
            assert page.is_visible("#help")
            late_server.listen()  # rig.service comes up
            page.wait_for_url(late_server.url, timeout=10_000)
            assert "hello from rig" in page.content()
        finally:
            browser.close()


def test_launcher_runs_cage_and_chromium_in_kiosk_mode(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "chromium-browser").write_text("#!/bin/sh\n")
    (fake_bin / "chromium-browser").chmod(0o755)
    env = {
        "PATH": f"{fake_bin}:/usr/bin:/bin",
        "RIG_KIOSK_DRY_RUN": "1",
        "RIG_URL": "http://127.0.0.1:9090/",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    out = subprocess.run(["sh", str(LAUNCHER)], env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    argv = out.stdout.split()
    assert argv[:4] == ["cage", "-d", "--", "chromium-browser"]
    assert "--kiosk" in argv and "--noerrdialogs" in argv and f"--user-data-dir={tmp_path}/rig-kiosk-chromium" in argv
    assert argv[-1] == "file:///opt/rig/share/web/kiosk/index.html#http://127.0.0.1:9090/"


def test_launcher_without_a_browser_says_what_to_install(tmp_path):
    env = {"PATH": str(tmp_path), "RIG_KIOSK_DRY_RUN": "1"}
    out = subprocess.run(["/bin/sh", str(LAUNCHER)], env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "apt-get install chromium-browser" in out.stderr
