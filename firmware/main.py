# rig-pico firmware entry point: runs at power-up on the Pico (MicroPython >= 1.23).
# The protocol over USB CDC serial is firmware/PROTOCOL.md.
import select
import sys
import time

import board
import machine
import micropython
from rigfw.clock import TicksClock
from rigfw.core import Firmware
from rigfw.hw import PicoHW

MAX_READ = 64  # bytes taken per loop pass, so a flood of input cannot starve the motion


def safe_mode():
    if board.SAFE_PIN is None:
        return False
    return machine.Pin(board.SAFE_PIN, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def run():
    hw = PicoHW(board)
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout

    flush = getattr(out, "flush", None)

    def write(line):
        out.write((line + "\n").encode())
        if flush is not None:
            flush()

    fw = Firmware(hw, TicksClock(), write, board.MAX_RATE, board.MAX_ACCEL)
    stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    wdt = machine.WDT(timeout=board.HW_WDT_MS) if board.HW_WDT_MS else None
    micropython.kbd_intr(-1)  # a 0x03 byte in the stream is data, not KeyboardInterrupt
    fw.boot()
    try:
        while not fw.exit_requested:
            if wdt is not None:
                wdt.feed()
            data = bytearray()
            while len(data) < MAX_READ and poller.poll(0):
                byte = stdin.read(1)
                if not byte:  # end of input (only off the board)
                    break
                data.extend(byte)
            if data:
                fw.feed(data)
            fw.poll()
            if not data and fw.move is None:
                time.sleep_ms(1)
    finally:
        hw.abort()
        hw.set_enable(False)
        hw.set_focus(False)
        hw.set_shutter(False)
        micropython.kbd_intr(3)


if not safe_mode():
    run()
