# The thin hardware layer (rigfw.hw, rigfw.steppio) on the fake machine/rp2 modules.
# The SAME file runs under CPython (pytest) and MicroPython (``micropython`` + fwtest.run).
import machine
import rp2
from rigfw import steppio
from rigfw.clock import ManualClock
from rigfw.core import Firmware
from rigfw.hw import U32, PicoHW
from rigfw.planner import pio_words


class Board:
    STEP_PIN = 2
    DIR_PIN = 3
    EN_PIN = 4
    EN_ACTIVE_LOW = True
    DIR_INVERT = False
    LIMIT_LO_PIN = 10
    LIMIT_HI_PIN = 11
    SWITCH_NC = False
    FOCUS_PIN = 14
    SHUTTER_PIN = 15
    MAX_RATE = 50000
    MAX_ACCEL = 2000000


def make_hw():
    return PicoHW(Board)


def play_pio(hw):
    """Be the PIO: run every queued segment to completion (the counter counts the pulses)."""
    sm = hw.sm
    pulses = 0
    while sm.tx:
        count_minus_1 = sm.tx.pop(0)
        sm.tx.pop(0)
        pulses += count_minus_1 + 1
    hw.counter.x = (hw.counter.x - pulses) & U32
    return pulses


def test_step_program_assembles_to_the_datasheet_encodings():
    prog = steppio.step_program
    # pull block; mov x, osr; pull block; set pins 1 [29]; set pins 0; mov y, osr; jmp y-- 6; jmp x-- 3
    assert prog.opcodes == [0x80A0, 0xA027, 0x80A0, 0xFD01, 0xE000, 0xA047, 0x0086, 0x0043]
    assert (prog.opcodes[3] >> 8) & 31 == steppio.HIGH_CYCLES - 1
    assert prog.wrap_target == 0 and prog.wrap == 7
    assert prog.kw["fifo_join"] == rp2.PIO.JOIN_TX and prog.kw["set_init"] == rp2.PIO.OUT_LOW
    # wait 1 pin 0; wait 0 pin 0; jmp x-- 0
    assert steppio.count_program.opcodes == [0x20A0, 0x2020, 0x0040]


def test_exec_instructions_are_preencoded():
    hw = make_hw()
    assert (hw.i_set_pins_0, hw.i_mov_isr_x, hw.i_push) == (0xE000, 0xA0C1, 0x8020)


def test_pins_start_safe():
    hw = make_hw()
    pins = machine.Pin.pins
    assert pins[Board.EN_PIN].value() == 1  # active low: driver off
    assert pins[Board.FOCUS_PIN].value() == 0 and pins[Board.SHUTTER_PIN].value() == 0
    assert pins[Board.LIMIT_LO_PIN].pull == machine.Pin.PULL_UP
    assert pins[Board.LIMIT_LO_PIN].trigger == machine.Pin.IRQ_FALLING and pins[Board.LIMIT_LO_PIN].hard
    assert hw.sm.running and hw.counter.running
    assert hw.sm.kw["freq"] == steppio.FREQ and hw.sm.kw["set_base"] is pins[Board.STEP_PIN]
    assert hw.counter.kw["in_base"] is pins[Board.STEP_PIN]
    hw.set_enable(True)
    assert pins[Board.EN_PIN].value() == 0
    hw.set_dir(False)
    assert pins[Board.DIR_PIN].value() == 0
    hw.set_dir(True)
    assert pins[Board.DIR_PIN].value() == 1


def test_segments_become_fifo_words_and_the_counter_gives_steps():
    hw = make_hw()
    hw.counter.x = (-12345) & U32  # pulses from earlier moves
    hw.start()
    assert hw.free() == 4
    hw.push(10, 1000000)
    hw.push(1, 50000)
    assert hw.sm.puts == list(pio_words(10, 1000000, steppio.FREQ, 30) + pio_words(1, 50000, steppio.FREQ, 30))
    assert hw.free() == 2
    assert hw.steps_done() == 0
    assert play_pio(hw) == 11
    assert hw.steps_done() == 11 and hw.free() == 4


def test_limit_irq_halts_only_when_moving_toward_the_switch():
    hw = make_hw()
    lo = machine.Pin.pins[Board.LIMIT_LO_PIN]
    hi = machine.Pin.pins[Board.LIMIT_HI_PIN]
    hw.set_dir(True)
    hw.start()
    lo.drive(0)  # the near switch closes while moving away from it (bounce): keep going
    assert hw.sm.running and not hw.limit_event()
    assert hw.limit_lo() and not hw.limit_hi()
    lo.drive(1)
    inits = hw.sm.inits
    hw.push(100, 100000)
    hi.drive(0)
    assert not hw.sm.running  # stopped inside the interrupt handler
    assert hw.limit_hi()
    assert hw.limit_event()
    assert hw.sm.running and hw.sm.inits == inits + 1 and hw.sm.tx == []  # queue dropped, ready
    assert hw.sm.execs[-1] == 0xE000  # STEP forced low
    assert not hw.limit_event()  # reported once


class NCBoard(Board):
    SWITCH_NC = True


def test_normally_closed_switches_trip_on_opening():
    hw = PicoHW(NCBoard)
    hi = machine.Pin.pins[Board.LIMIT_HI_PIN]
    assert hi.pull == machine.Pin.PULL_UP and hi.trigger == machine.Pin.IRQ_RISING
    hi.drive(0)  # closed: not pressed
    assert not hw.limit_hi()
    hw.set_dir(True)
    hw.start()
    hi.drive(1)  # opens (pressed, or the wire broke)
    assert hw.limit_hi() and hw.limit_event()


def test_abort_drops_the_queue_and_leaves_step_low():
    hw = make_hw()
    hw.start()
    hw.push(100, 100000)
    hw.push(100, 100000)
    hw.abort()
    assert hw.sm.tx == [] and hw.sm.running and hw.sm.execs[-1] == 0xE000


def test_firmware_loop_drives_the_pio_layer():
    clock = ManualClock()
    hw = make_hw()
    out = []
    fw = Firmware(hw, clock, out.append, Board.MAX_RATE, Board.MAX_ACCEL)
    fw.feed(b"1 MOVE -2500 20000 400000\n")
    assert out == ["1 OK"] and hw.sm.tx and machine.Pin.pins[Board.DIR_PIN].value() == 0
    assert machine.Pin.pins[Board.EN_PIN].value() == 0
    total = 0
    for _ in range(200):
        total += play_pio(hw)
        clock.advance(1)
        fw.poll()
        if fw.move is None:
            break
    assert total == 2500 and out[-1] == "DONE -2500 TARGET"
    fw.feed(b"2 MOVE 0 20000 400000\n")
    played = play_pio(hw)
    clock.advance(1)
    fw.poll()
    assert 0 < played < 2500 and fw.move is not None
    machine.Pin.pins[Board.LIMIT_HI_PIN].drive(0)  # the far switch trips mid-move
    clock.advance(1)
    fw.poll()
    assert out[-1] == "DONE %d LIMIT" % (played - 2500) and fw.pos == played - 2500
    assert machine.Pin.pins[Board.EN_PIN].value() == 1  # driver released


if __name__ == "__main__":
    import fwtest

    fwtest.run(globals())
