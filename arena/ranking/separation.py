"""How many more votes would tell two neighbouring models apart, from the fit's information matrix.

Two models are told apart when the interval of their score *difference* excludes zero:
|θ_i − θ_j| > z·sd(θ_i − θ_j). (Non-overlap of the two single intervals, which the rank counts, is
stricter, and votes between the two alone can never bring it about: a centred score also needs
comparisons with the whole field.) One more vote between i and j adds w·xxᵀ to the information
(x = e_i − e_j, w = p(1 − p) at the current fit); by Sherman–Morrison the difference's variance after
m such votes is v / (1 + m·w·v), v = xᵀCx now. So m = (z²/gap² − 1/v) / w, assuming the current gap
is the true one and the new votes go to this pair (which adaptive sampling aims at).
"""
from __future__ import annotations

import math

import numpy as np

NEVER = 1_000_000  # beyond this many votes the page says "not in sight"


def votes_to_separate(theta: np.ndarray, cov: np.ndarray, i: int, j: int, z: float) -> int | None:
    """Further votes on the pair (i, j) until their difference is clear at level z; 0 if it already
    is, None beyond NEVER votes (the two are about equally strong)."""
    gap = abs(float(theta[i] - theta[j]))
    variance = float(cov[i, i] + cov[j, j] - 2.0 * cov[i, j])
    if variance <= 0 or gap > z * math.sqrt(variance):
        return 0
    if gap == 0:
        return None
    prob = 1.0 / (1.0 + math.exp(-gap))
    needed = (z * z / (gap * gap) - 1.0 / variance) / (prob * (1.0 - prob))
    return math.ceil(needed) if needed <= NEVER else None


def neighbour_gaps(theta: np.ndarray, cov: np.ndarray, order: list[int], z: float) -> list[tuple[int, int, int | None]]:
    """(upper, lower, votes needed) for each pair of neighbours in ``order`` (best first)."""
    return [(upper, lower, votes_to_separate(theta, cov, upper, lower, z)) for upper, lower in zip(order, order[1:])]
