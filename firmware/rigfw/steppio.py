# The PIO programs of the step generator. rp2.asm_pio assembles them at import: MicroPython's
# rp2 module on the Pico, firmware/tests/fakes/rp2.py off the board (the emulator test runs
# those opcodes). asm_pio swaps this module's globals while it assembles, so the programs
# use literals only; the constants below must match them (tests check it).
import rp2

FREQ = 10000000  # state-machine clock of the step program: 0.1 us per cycle
HIGH_CYCLES = 30  # STEP high time: set(pins, 1) [29] -> 3.0 us (DRV8825 needs 1.9 us)
OVERHEAD = 4  # cycles per step besides HIGH_CYCLES and the delay loop
SEGMENT_GAP = 3  # extra cycles between two segments (pull, mov, pull)


# Per segment the CPU puts two words: count - 1, then the delay-loop value d.
# One step takes HIGH_CYCLES + d + OVERHEAD cycles: 30 (high) + 1 (low) + 1 (mov) + d + 1
# (delay loop) + 1 (jmp x--). With the FIFO empty the machine waits at pull, STEP low.
@rp2.asm_pio(set_init=rp2.PIO.OUT_LOW, fifo_join=rp2.PIO.JOIN_TX)
def step_program():
    pull(block)  # noqa: F821 - names come from asm_pio
    mov(x, osr)  # noqa: F821
    pull(block)  # noqa: F821
    label("step")  # noqa: F821
    set(pins, 1)[29]  # noqa: F821
    set(pins, 0)  # noqa: F821
    mov(y, osr)  # noqa: F821
    label("wait")  # noqa: F821
    jmp(y_dec, "wait")  # noqa: F821
    jmp(x_dec, "step")  # noqa: F821


# Counts STEP pulses (rising then falling edge) by decrementing x from 0: pulses = -x mod 2**32.
# The CPU reads x with exec(mov(isr, x)), exec(push()), get(). It runs at the system clock.
@rp2.asm_pio()
def count_program():
    label("loop")  # noqa: F821
    wait(1, pin, 0)  # noqa: F821
    wait(0, pin, 0)  # noqa: F821
    jmp(x_dec, "loop")  # noqa: F821
