# The thin hardware layer on the Pico: pins, the PIO step generator and pulse counter, limit
# switch interrupts. Everything with a decision in it lives in rigfw.core; this file only
# moves bits. Off the board it runs on firmware/tests/fakes (machine, rp2).
import machine
import rp2
from machine import Pin

from rigfw import steppio
from rigfw.planner import pio_words

TX_WORDS = 8  # joined TX FIFO depth
U32 = 0xFFFFFFFF


class PicoHW:
    def __init__(self, board, pio_base=0):
        self.board = board
        self.step_pin = Pin(board.STEP_PIN, Pin.OUT, value=0)
        self.dir_pin = Pin(board.DIR_PIN, Pin.OUT, value=0)
        self.en_pin = None
        if board.EN_PIN is not None:
            self.en_pin = Pin(board.EN_PIN, Pin.OUT, value=1 if board.EN_ACTIVE_LOW else 0)  # off
        self.focus_pin = Pin(board.FOCUS_PIN, Pin.OUT, value=0)
        self.shutter_pin = Pin(board.SHUTTER_PIN, Pin.OUT, value=0)
        # switches are wired to GND with the pull-up on: a normally-open switch reads 0 when
        # pressed, a normally-closed one 1 (and a broken wire reads as pressed: fail safe)
        self.pressed_level = 1 if board.SWITCH_NC else 0
        self.forward = True
        self.limit_hit = False
        # instructions for exec(), encoded once (an IRQ handler must not allocate)
        self.i_set_pins_0 = rp2.asm_pio_encode("set(pins, 0)", 0)
        self.i_mov_isr_x = rp2.asm_pio_encode("mov(isr, x)", 0)
        self.i_push = rp2.asm_pio_encode("push()", 0)
        self.sm_id = pio_base
        self.sm = rp2.StateMachine(pio_base)
        self.init_step_sm()
        self.counter = rp2.StateMachine(pio_base + 1, steppio.count_program, in_base=self.step_pin)
        self.counter.active(1)
        self.halt = self.sm.active  # bound once, for the IRQ handler
        self.base = 0
        self.lo_pin = self.switch(board.LIMIT_LO_PIN, self.on_limit_lo)
        self.hi_pin = self.switch(board.LIMIT_HI_PIN, self.on_limit_hi)

    def init_step_sm(self):
        # (re)initialising empties the FIFOs and restarts the program at its first pull
        self.sm.init(steppio.step_program, freq=steppio.FREQ, set_base=self.step_pin)
        self.sm.active(1)

    def switch(self, pin_no, handler):
        if pin_no is None:
            return None
        pin = Pin(pin_no, Pin.IN, Pin.PULL_UP)
        trigger = Pin.IRQ_FALLING if self.pressed_level == 0 else Pin.IRQ_RISING
        pin.irq(handler=handler, trigger=trigger, hard=True)
        return pin

    # -- limit switch interrupts: stop the pulses at once if moving toward the switch
    def on_limit_lo(self, pin):
        if not self.forward:
            self.halt(0)
            self.limit_hit = True

    def on_limit_hi(self, pin):
        if self.forward:
            self.halt(0)
            self.limit_hit = True

    # -- outputs
    def set_enable(self, on):
        if self.en_pin is not None:
            self.en_pin.value((0 if on else 1) if self.board.EN_ACTIVE_LOW else (1 if on else 0))

    def set_dir(self, forward):
        self.forward = forward
        self.dir_pin.value(1 if forward != self.board.DIR_INVERT else 0)

    def set_focus(self, on):
        self.focus_pin.value(1 if on else 0)

    def set_shutter(self, on):
        self.shutter_pin.value(1 if on else 0)

    # -- step generator
    def raw_count(self):
        self.counter.exec(self.i_mov_isr_x)
        self.counter.exec(self.i_push)
        return (-self.counter.get()) & U32

    def start(self):
        state = machine.disable_irq()
        self.limit_hit = False
        machine.enable_irq(state)
        self.base = self.raw_count()

    def push(self, count, period_ns):
        words = pio_words(count, period_ns, steppio.FREQ, steppio.HIGH_CYCLES, steppio.OVERHEAD)
        self.sm.put(words[0])
        self.sm.put(words[1])

    def free(self):
        return (TX_WORDS - self.sm.tx_fifo()) // 2

    def steps_done(self):
        return (self.raw_count() - self.base) & U32

    def abort(self):
        self.sm.active(0)
        self.sm.exec(self.i_set_pins_0)  # a pulse cut short ends low (and is counted)
        self.init_step_sm()

    def limit_event(self):
        state = machine.disable_irq()
        hit = self.limit_hit
        self.limit_hit = False
        machine.enable_irq(state)
        if hit:
            self.sm.exec(self.i_set_pins_0)
            self.init_step_sm()
        return hit

    def limit_lo(self):
        return self.lo_pin is not None and self.lo_pin.value() == self.pressed_level

    def limit_hi(self):
        return self.hi_pin is not None and self.hi_pin.value() == self.pressed_level
