"""Live figures per model from the arena's stored answers (a read-only selector).

Kept here rather than in selectors.py (owned by the arena lead); it may move there as is.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

WINDOW = timedelta(hours=1)
_CACHE_SECONDS = 10.0
_cache: tuple[float, dict] = (0.0, {})


@dataclass(frozen=True)
class LiveFigures:
    answers: int = 0
    median_ttft_ms: float | None = None
    median_tokens_per_s: float | None = None
    errors: int = 0


def live_figures(window: timedelta = WINDOW) -> dict[int, LiveFigures]:
    """Figures of the last ``window`` per ServedModel id: median time to first token, median decode speed
    (tokens after the first over the time after the first), and answers that ended in an error."""
    from arena.models import Message

    rows = (Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=timezone.now() - window)
            .values_list("side", "battle__model_a_id", "battle__model_b_id", "ttft_ms", "duration_ms",
                         "token_count", "error"))
    per_model: dict[int, dict[str, list]] = {}
    for side, model_a, model_b, ttft, duration, tokens, error in rows:
        model_id = model_a if side == "A" else model_b
        bucket = per_model.setdefault(model_id, {"ttft": [], "speed": [], "errors": 0, "answers": 0})
        bucket["answers"] += 1
        if error:
            bucket["errors"] += 1
        if ttft is not None:
            bucket["ttft"].append(ttft)
            if duration and tokens > 1 and duration > ttft:
                bucket["speed"].append((tokens - 1) / ((duration - ttft) / 1000))
    return {
        model_id: LiveFigures(
            answers=b["answers"],
            median_ttft_ms=statistics.median(b["ttft"]) if b["ttft"] else None,
            median_tokens_per_s=statistics.median(b["speed"]) if b["speed"] else None,
            errors=b["errors"],
        )
        for model_id, b in per_model.items()
    }


def figures_for(model_id: int) -> LiveFigures:
    """One model's figures, from a snapshot at most 10 s old (one query per admin page, not per row)."""
    global _cache
    taken, figures = _cache
    if time.monotonic() - taken > _CACHE_SECONDS:
        figures = live_figures()
        _cache = (time.monotonic(), figures)
    return figures.get(model_id, LiveFigures())


def forget() -> None:
    global _cache
    _cache = (0.0, {})
