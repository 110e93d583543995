"""The PIO programs in an emulator (PyPI rp2040-pio-emulator, CPython only): the step program
emits exactly the requested pulses with the planned timing, the counter counts them."""

from collections import deque

import pioemu  # a dev dependency (rp2040-pio-emulator): missing is a failure, not a skip
from rigfw import steppio  # noqa: E402
from rigfw.planner import Ramp, period_cycles, pio_words  # noqa: E402

STEP = steppio.step_program
U32 = 0xFFFFFFFF


def run_step_program(words: list[int], max_cycles: int) -> tuple[list[int], list[int]]:
    """Rising- and falling-edge cycle times of the STEP pin (pin 0)."""
    rises, falls = [], []
    level = 0
    for prev, cur in pioemu.emulate(
        STEP.opcodes,
        stop_when=lambda _op, s: s.clock > max_cycles,
        initial_state=pioemu.State(transmit_fifo=deque(words)),
        set_base=0,
        set_count=1,
        wrap_target=STEP.wrap_target,
        wrap_top=STEP.wrap,
    ):
        now = cur.pin_values & 1
        if now != level:
            (rises if now else falls).append(prev.clock)  # the edge happens when the instruction runs
            level = now
    return rises, falls


def segment_words(segments: list[tuple[int, int]]) -> list[int]:
    words: list[int] = []
    for count, period_ns in segments:
        words += pio_words(count, period_ns, steppio.FREQ, steppio.HIGH_CYCLES, steppio.OVERHEAD)
    return words


def test_one_segment_exact_count_high_time_and_period():
    count, period_ns = 25, 20_000  # 50 000 steps/s: 200 cycles per step at 10 MHz
    rises, falls = run_step_program(segment_words([(count, period_ns)]), 200 * 30)
    assert len(rises) == len(falls) == count
    assert {f - r for r, f in zip(rises, falls, strict=True)} == {steppio.HIGH_CYCLES}
    assert {b - a for a, b in zip(rises, rises[1:], strict=False)} == {200}
    assert rises[0] == steppio.SEGMENT_GAP  # pull, mov, pull, then the first edge


def test_segments_chain_with_a_fixed_gap_and_idle_low_when_the_fifo_runs_dry():
    segs = [(3, 40_000), (1, 15_000), (4, 5_000)]
    words = segment_words(segs)
    rises, falls = run_step_program(words, 5000)
    assert len(rises) == len(falls) == 8
    gaps = [b - a for a, b in zip(rises, rises[1:], strict=False)]
    cycles = [period_cycles(words[i + 1], steppio.HIGH_CYCLES, steppio.OVERHEAD) for i in range(0, len(words), 2)]
    assert cycles == [400, 150, 50]
    gap = steppio.SEGMENT_GAP
    assert gaps == [400, 400, 400 + gap, 150 + gap, 50, 50, 50]
    assert falls[-1] == rises[-1] + steppio.HIGH_CYCLES  # and stays low: no more edges in 5000 cycles


def test_the_fastest_rate_the_program_can_make():
    # delay 0: HIGH_CYCLES + OVERHEAD cycles per step, 294 kHz at 10 MHz
    rises, _ = run_step_program([9, 0], 1000)
    assert len(rises) == 10
    assert {b - a for a, b in zip(rises, rises[1:], strict=False)} == {steppio.HIGH_CYCLES + steppio.OVERHEAD}


def test_a_planned_ramp_runs_exactly_and_at_the_planned_rates():
    ramp = Ramp(120, 40_000, 4_000_000)
    segs = []
    while not ramp.finished():
        segs.append(ramp.next_segment())
    words = segment_words(segs)
    budget = sum(c * period_cycles(words[2 * i + 1], 30) + 3 for i, (c, _) in enumerate(segs)) + 10
    rises, _ = run_step_program(words, budget)
    assert len(rises) == 120
    i = 0
    for count, period_ns in segs:  # every step inside a segment keeps the planned period (0.1 us grain)
        seg_rises = rises[i : i + count]
        i += count
        for a, b in zip(seg_rises, seg_rises[1:], strict=False):
            assert abs((b - a) * 100 - period_ns) < 100 + 1, (b - a, period_ns)
    rates = [1e9 / p for _, p in segs]
    assert max(rates) <= 40_000 and rates[0] < rates[len(rates) // 2] and rates[-1] < rates[len(rates) // 2]


def test_the_counter_program_counts_pulses_into_x():
    prog = steppio.count_program
    pulses = 7

    def step_pin(clock: int) -> int:  # 7 pulses: high 4 cycles out of every 11
        return 1 if clock < pulses * 11 and clock % 11 < 4 else 0

    final = None
    for _prev, cur in pioemu.emulate(
        prog.opcodes,
        stop_when=lambda _op, s: s.clock > 200,
        input_source=step_pin,
        wrap_target=prog.wrap_target,
        wrap_top=prog.wrap,
    ):
        final = cur
    assert final is not None and (-final.x_register) & U32 == pulses
