"""CPython side of the firmware tests: put firmware/ and the fake machine/rp2 on sys.path.

Under MicroPython the same test files run with MICROPYPATH set the same way (see
test_fw_micropython.py)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE.parent, HERE / "fakes"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
