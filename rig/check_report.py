"""What the per-frame checks caught in one stack, in a few lines for people: ``rig stack`` prints
them at the end, the web UI shows the same figures from ``stack.json``."""

from __future__ import annotations

from rig.manifest import StackManifest


def check_summary(record: StackManifest) -> list[str]:
    """Lines such as ``checks: 3 shots re-taken (slice 3: brightness ...)``; empty without checks."""
    frames = [f for f in record.frames or () if f.checks is not None]
    if not frames:
        return []
    units = record.units
    lines: list[str] = []
    retaken = [f for f in frames if f.checks and f.checks.rejected]
    caught = sum(len(f.checks.rejected) for f in retaken if f.checks)
    if caught:
        details = ", ".join(
            f"slice {f.index}: {f.checks.rejected[0].reasons[0].split(':')[0] if f.checks.rejected[0].reasons else '?'}"
            for f in retaken
            if f.checks
        )
        lines.append(f"checks: {caught} shot(s) turned down and re-taken ({details})")
    else:
        lines.append(f"checks: all {len(frames)} frame(s) good at the first shot")
    failed = [f.index for f in frames if f.checks and f.checks.verdict == "failed"]
    unchecked = [f.index for f in frames if f.checks and f.checks.verdict == "unchecked"]
    if failed:
        lines.append(f"checks: no good shot for slice(s) {', '.join(map(str, failed))} (kept, marked failed)")
    if unchecked:
        lines.append(f"checks: slice(s) {', '.join(map(str, unchecked))} could not be checked (kept, marked)")
    if record.coverage and record.coverage.filled:
        where = ", ".join(f"{p:g}" for p in record.coverage.filled)
        lines.append(f"coverage: {len(record.coverage.filled)} gap(s) filled at {where} {units}")
    return lines
