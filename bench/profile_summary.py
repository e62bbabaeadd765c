"""Summarise a py-spy collapsed-stack file (`run_load.py --profile FILE`) per thread.

A flame graph answers "what does this stack look like"; a benchmark report
needs "which functions take what share", per thread, because LLS's event loop
and its SQLite writer thread share one GIL and must be read together. This
prints, per thread, its share of all samples, then the top functions by self
time (where the samples were) and by inclusive time (what they were under).

    .venv/bin/python bench/profile_summary.py FILE [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_THREAD = re.compile(r"^thread\s*\(\d+\):?\s*")  # `thread (8229): MainThread`
_LINE = re.compile(r":\d+\)$")
# Frames every stack of a thread shares; they would top the inclusive list and say nothing.
_BOILERPLATE = ("(threading.py)", "(<frozen runpy>)", "(lls/__main__.py)")


def frame_name(frame: str) -> str:
    """`func (path/file.py:123)` → `func (path/file.py)`: lines split one function apart."""
    return _LINE.sub(")", frame.strip())


def summarise(path: Path, top: int) -> str:
    per_thread: Counter[str] = Counter()
    self_time: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        thread = _THREAD.sub("", frames[0].strip()) or "?"
        names = [frame_name(f) for f in frames[1:] if f.strip()]
        names = [n for n in names if not n.endswith(_BOILERPLATE)]
        per_thread[thread] += samples
        if names:
            self_time[(thread, names[-1])] += samples
        for name in set(names):
            inclusive[(thread, name)] += samples
    total = sum(per_thread.values()) or 1
    out = [f"{total} samples"]
    out += [f"  {100 * n / total:5.1f}%  thread {t}" for t, n in per_thread.most_common()]
    for title, table in (("self", self_time), ("inclusive", inclusive)):
        out.append(f"top {top} by {title} time (% of all samples)")
        for (thread, name), n in table.most_common(top):
            out.append(f"  {100 * n / total:5.1f}%  [{thread[:14]}] {name}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarise(args.file, args.top))


if __name__ == "__main__":
    main()
