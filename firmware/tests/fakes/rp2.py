# A fake of MicroPython's ``rp2`` module for tests (CPython and the MicroPython unix port):
# an independent PIO assembler with the same decorator API as rp2.asm_pio (encodings from the
# RP2040 datasheet, section 3.4), and a StateMachine that records what the firmware does to it.


class PIO:
    IN_LOW = 0
    IN_HIGH = 1
    OUT_LOW = 2
    OUT_HIGH = 3
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    JOIN_NONE = 0
    JOIN_TX = 1
    JOIN_RX = 2


class PIOASMError(Exception):
    pass


class Program:
    def __init__(self, kw):
        self.opcodes = []
        self.labels = {}
        self.wrap_target = 0
        self.wrap = None
        self.kw = kw


class _Emitter:
    def __init__(self, prog, resolve):
        self.prog = prog
        self.resolve = resolve  # second pass: labels are known

    def emit(self, word, label=None):
        if label is not None:
            if label not in self.prog.labels:
                if self.resolve:
                    raise PIOASMError("unknown label " + str(label))
                addr = 0
            else:
                addr = self.prog.labels[label]
            word |= addr
        self.prog.opcodes.append(word)
        return self

    def __getitem__(self, delay):  # instr()[n]: n extra cycles
        if delay < 0 or delay > 31:
            raise PIOASMError("delay out of range")
        self.prog.opcodes[-1] |= delay << 8
        return self


# operand codes (datasheet): sources/destinations, jmp conditions, push/pull flags
_NAMES = {
    "pins": 0, "x": 1, "y": 2, "null": 3, "pindirs": 4, "pc": 5, "isr": 6, "osr": 7,
    "not_x": 1, "x_dec": 2, "not_y": 3, "y_dec": 4, "x_not_y": 5, "not_osre": 7,
    "block": "block", "noblock": "noblock", "pin": "pin", "gpio": "gpio", "irq": "irq",
}  # fmt: skip


def _builtins(prog, em):
    def label(name):
        prog.labels[name] = len(prog.opcodes)

    def wrap_target():
        prog.wrap_target = len(prog.opcodes)

    def wrap():
        prog.wrap = len(prog.opcodes) - 1

    def jmp(cond, target=None):
        if target is None:
            cond, target = 0, cond
        return em.emit(0x0000 | cond << 5, target)

    def wait(polarity, src, index):
        code = {"gpio": 0, "pin": 1, "irq": 2}[src]
        return em.emit(0x2000 | polarity << 7 | code << 5 | index)

    def in_(src, bits):
        return em.emit(0x4000 | src << 5 | (bits & 31))

    def out(dest, bits):
        return em.emit(0x6000 | dest << 5 | (bits & 31))

    def push(flag="block"):
        return em.emit(0x8000 | (0x20 if flag == "block" else 0))

    def pull(flag="block"):
        return em.emit(0x8080 | (0x20 if flag == "block" else 0))

    def mov(dest, src):
        return em.emit(0xA000 | dest << 5 | src)

    def set(dest, value):  # noqa: A001 - the PIO instruction's name
        return em.emit(0xE000 | dest << 5 | (value & 31))

    def nop():
        return mov(2, 2)  # mov y, y

    d = dict(_NAMES)
    for f in (label, wrap_target, wrap, jmp, wait, in_, out, push, pull, mov, set, nop):
        d[f.__name__] = f
    return d


def _assemble(f, prog, resolve):
    em = _Emitter(prog, resolve)
    g = f.__globals__
    saved = dict(g)
    g.clear()
    g.update(_builtins(prog, em))
    try:
        f()
    finally:
        g.clear()
        g.update(saved)


def asm_pio(**kw):
    def dec(f):
        first = Program(kw)
        _assemble(f, first, False)
        prog = Program(kw)
        prog.labels = first.labels
        _assemble(f, prog, True)
        if prog.wrap is None:
            prog.wrap = len(prog.opcodes) - 1
        return prog

    return dec


def asm_pio_encode(instr, sideset_count, sideset_opt=False):
    prog = Program({})
    env = _builtins(prog, _Emitter(prog, True))
    exec(instr, env)
    if len(prog.opcodes) != 1:
        raise PIOASMError("expected exactly one instruction")
    return prog.opcodes[0]


class StateMachine:
    """Records puts and execs. Tests play the PIO: ``x`` is the pulse counter register,
    ``tx`` the TX FIFO (tests pop words to "consume" them)."""

    machines = {}

    def __init__(self, id, prog=None, **kw):
        self.id = id
        self.tx = []
        self.rx = []
        self.puts = []
        self.execs = []
        self.inits = 0
        self.running = False
        self.x = 0
        self.isr = 0
        self.prog = None
        self.kw = {}
        StateMachine.machines[id] = self
        if prog is not None:
            self.init(prog, **kw)

    def init(self, prog, **kw):
        self.prog = prog
        self.kw = kw
        self.tx = []
        self.rx = []
        self.inits += 1

    def active(self, v=None):
        if v is not None:
            self.running = bool(v)
        return self.running

    def put(self, word):
        if len(self.tx) >= 8:
            raise RuntimeError("fake PIO: TX FIFO overflow (a real put would block)")
        self.tx.append(word & 0xFFFFFFFF)
        self.puts.append(word & 0xFFFFFFFF)

    def get(self):
        return self.rx.pop(0)

    def tx_fifo(self):
        return len(self.tx)

    def rx_fifo(self):
        return len(self.rx)

    def exec(self, instr):
        if not isinstance(instr, int):
            instr = asm_pio_encode(instr, 0)
        self.execs.append(instr)
        if instr == 0xA0C1:  # mov isr, x
            self.isr = self.x
        elif instr == 0x8020:  # push block
            self.rx.append(self.isr)
