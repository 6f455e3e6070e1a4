"""Rank agreement between arena scores and benchmark scores (pure: no Django, no I/O)."""
from __future__ import annotations

import math

MIN_MODELS = 3


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def correlate(arena_scores: dict[str, float], bench_scores: dict[str, float]) -> dict:
    """Spearman and Kendall (tau-b) correlation over the models present in both mappings.

    Returns ``{"n", "models", "spearman", "spearman_p", "kendall", "kendall_p", "message"}``; the
    coefficients are None (and ``message`` says why) with fewer than 3 common models, or when one
    side gives every model the same score (a rank correlation is undefined then).
    """
    from scipy import stats

    common = sorted(
        name for name in set(arena_scores) & set(bench_scores)
        if _finite(arena_scores[name]) is not None and _finite(bench_scores[name]) is not None
    )
    result = {"n": len(common), "models": common, "spearman": None, "spearman_p": None,
              "kendall": None, "kendall_p": None, "message": ""}
    if len(common) < MIN_MODELS:
        result["message"] = (
            f"{len(common)} model(s) have both an arena score and a benchmark score; "
            f"at least {MIN_MODELS} are needed for a rank correlation."
        )
        return result
    arena = [float(arena_scores[name]) for name in common]
    bench = [float(bench_scores[name]) for name in common]
    if len(set(arena)) == 1 or len(set(bench)) == 1:
        result["message"] = "All models have the same score on one side; the rank correlation is undefined."
        return result
    spearman = stats.spearmanr(arena, bench)
    kendall = stats.kendalltau(arena, bench)
    result.update(
        spearman=float(spearman.statistic), spearman_p=float(spearman.pvalue),
        kendall=float(kendall.statistic), kendall_p=float(kendall.pvalue),
    )
    return result
