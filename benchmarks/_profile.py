"""A short pyinstrument profile of one call, as text for a results file."""
from __future__ import annotations

from typing import Callable


def profile(fn: Callable[[], object], *, max_lines: int = 40, interval: float = 0.002) -> str:
    """Run ``fn`` under pyinstrument; the call tree, trimmed to ``max_lines``, as plain text."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "(pyinstrument is not installed: `.venv/bin/pip install -r requirements-dev.txt`)"
    p = Profiler(interval=interval)
    p.start()
    try:
        fn()
    finally:
        p.stop()
    text = p.output_text(unicode=False, color=False, show_all=False, short_mode=False)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # Drop pyinstrument's banner (the first lines up to the "Profile at" line).
    start = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("Profile at")), 0)
    body = lines[start:]
    if len(body) > max_lines:
        body = body[:max_lines] + [f"... ({len(body) - max_lines} more lines)"]
    return "\n".join(body)
