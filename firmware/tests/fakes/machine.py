# A fake of MicroPython's ``machine`` module (the parts rigfw.hw and main.py use), for tests
# under CPython and the MicroPython unix port. Pins remember every value they were given.


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8
    pins = {}  # id -> the last Pin made for that id

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        if value is None:
            value = 1 if pull == Pin.PULL_UP else 0
        self._value = value
        self.history = [value]
        self.handler = None
        self.trigger = 0
        self.hard = False
        Pin.pins[id] = self

    def value(self, v=None):
        if v is None:
            return self._value
        v = 1 if v else 0
        self._value = v
        self.history.append(v)
        return None

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        self.trigger = trigger
        self.hard = hard

    # test helper: an external signal drives the (input) pin
    def drive(self, v):
        old = self._value
        self.value(v)
        edge = 0
        if old == 1 and v == 0:
            edge = Pin.IRQ_FALLING
        elif old == 0 and v == 1:
            edge = Pin.IRQ_RISING
        if edge & self.trigger and self.handler is not None:
            self.handler(self)


irq_disabled = 0


def disable_irq():
    global irq_disabled
    irq_disabled += 1
    return 1


def enable_irq(state):
    global irq_disabled
    irq_disabled -= 1


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1
