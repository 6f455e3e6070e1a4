"""Style-controlled boards: each dimension refitted with the style covariates, next to the raw scores.

Covariates per vote (side A minus side B), as lmarena's style control builds them:

* tokens, headers, list items, bold spans: (a − b) / (a + b + 1), a relative difference in [−1, 1];
* Basque share: share_a − share_b (0 when a side has no prose long enough to tell);

each standardised over the votes (so one prior suits all), plus a constant 1 for "side A is shown on
the left", whose coefficient is the position bias. Coefficients are reported in plain words: the
win probability, between two equally strong models, of an answer with a given style contrast.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from arena.ranking import bt, style_fit
from arena.ranking.style_data import SIDE_FEATURES, StyleRows
from arena.vocabulary import DIMENSIONS

STYLE_FEATURES = ("tokens", "headers", "list_items", "bold", "basque_share")
COVARIATES = (*STYLE_FEATURES, "left_position")
# Style-contrast behind each plain-words sentence: (covariate value, before standardising).
CONTRASTS = {
    "tokens": 1.0 / 3.0,  # twice as long: (2L − L) / (3L + 1) ≈ 1/3
    "headers": 0.75,  # 3 headers against none: 3 / 4
    "list_items": 0.75,  # 3 list items against none
    "bold": 0.75,  # 3 bold spans against none
    "basque_share": 0.5,  # all Basque against half Basque
    "left_position": 1.0,  # shown on the left, between equally good answers
}
RIDGE_BETA = 0.5  # prior precision on standardised coefficients: FastChat's regularisation
_Z = {0.90: 1.6448536269514722, 0.95: 1.959963984540054}


@dataclass
class Coefficient:
    name: str
    estimate: float  # logit change per unit of the (unstandardised) contrast
    win_probability: float  # P(win) of the answer with the contrast, equally strong models
    observed: bool = True  # False: the feature never varied in these votes (e.g. no answer had a header)
    intervals: dict[tuple[str, float], tuple[float, float]] = field(default_factory=dict)  # of win_probability


@dataclass
class StyleScore:
    model_id: int
    name: str
    rating: float  # style-controlled
    raw_rating: float  # the raw board's, for the side-by-side
    votes: int
    intervals: dict[tuple[str, float], tuple[float, float]] = field(default_factory=dict)
    preliminary: bool = False


@dataclass
class StyleBoard:
    dimension: str
    scores: list[StyleScore]
    coefficients: list[Coefficient]
    votes_used: int
    votes_without_style: int


def covariates(rows: StyleRows) -> tuple[np.ndarray, np.ndarray]:
    """(X standardised with the left-position column, scale of each style column before standardising)."""
    index = {name: c for c, name in enumerate(SIDE_FEATURES)}
    columns = []
    for name in STYLE_FEATURES[:-1]:
        a, b = rows.side_a[:, index[name]], rows.side_b[:, index[name]]
        columns.append((a - b) / (a + b + 1.0))
    share_a = _share(rows.side_a[:, index["basque_chars"]], rows.side_a[:, index["language_chars"]])
    share_b = _share(rows.side_b[:, index["basque_chars"]], rows.side_b[:, index["language_chars"]])
    known = ~np.isnan(share_a) & ~np.isnan(share_b)
    columns.append(np.where(known, np.nan_to_num(share_a) - np.nan_to_num(share_b), 0.0))
    raw = np.stack(columns, axis=1) if len(rows) else np.zeros((0, len(STYLE_FEATURES)))
    mean = raw.mean(axis=0) if len(rows) else np.zeros(len(STYLE_FEATURES))
    scale = raw.std(axis=0) if len(rows) else np.zeros(len(STYLE_FEATURES))
    scale = np.where(scale > 0, scale, np.nan)  # a constant feature (e.g. never any header): NaN marks it
    X = np.column_stack([np.nan_to_num((raw - mean) / scale), np.ones(len(rows))])  # constant columns: 0
    return X, np.append(scale, 1.0)


def _share(basque: np.ndarray, detected: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(detected > 0, basque / np.maximum(detected, 1), np.nan)


def outcome_y(codes: np.ndarray, both_bad_as_tie: bool) -> tuple[np.ndarray, np.ndarray]:
    """(y for the kept votes, mask of kept votes): A = 1, tie = ½, B = 0; both bad as the board says."""
    y = np.choose(np.minimum(codes, 4), [1.0, 0.5, 0.0, 0.5, np.nan])
    keep = codes <= 2
    if both_bad_as_tie:
        keep |= codes == 3
    return y[keep], keep


def style_boards(
    rows: StyleRows, raw_boards: dict, names: dict[int, str], *, both_bad_as_tie: bool, ridge_theta: float,
    rounds: int, seed: int, min_votes: int,
) -> dict[str, StyleBoard]:
    X_all, scale = covariates(rows)
    boards = {}
    start = None  # the previous dimension's fit: the dimensions agree closely, so fewer Newton steps
    for d, dimension in enumerate(DIMENSIONS):
        y, keep = outcome_y(rows.outcomes[dimension], both_bad_as_tie)
        kept = slice(None) if keep.all() else keep  # every vote kept (the usual case): no copies of X
        model_a, model_b, X = rows.model_a[kept], rows.model_b[kept], X_all[kept]
        boards[dimension], start = _board(
            dimension, model_a, model_b, y, X, rows.weights[kept], scale, raw_boards[dimension], names,
            ridge_theta=ridge_theta, start=start,
            rounds=rounds, seed=seed + d, min_votes=min_votes, without_style=rows.votes_without_style,
        )
    return boards


def _board(dimension, model_a, model_b, y, X, weights, scale, raw_board, names, *, ridge_theta, rounds, seed,
           min_votes, without_style, start=None) -> tuple[StyleBoard, tuple | None]:
    """The dimension's board, and its (model ids, parameters): a start for the next dimension's fit."""
    present = np.unique(np.concatenate([model_a, model_b]))
    if len(present) < 2:
        return StyleBoard(dimension, [], [], votes_used=len(y), votes_without_style=without_style), None
    ids = present.tolist()
    a, b = np.searchsorted(present, model_a), np.searchsorted(present, model_b)  # positions, vectorised
    n, k = len(ids), X.shape[1]
    start_ids, start_params = start or (None, None)
    if start_ids != ids:
        start_params = None  # another set of models (some had no votes in this dimension)
    fitted = style_fit.fit_with_sandwich(a, b, y, X, n, ridge_theta=ridge_theta, ridge_beta=RIDGE_BETA, weights=weights,
                                         start=start_params)
    params = np.concatenate([fitted.theta, fitted.beta])
    se = np.sqrt(np.clip(np.diag(fitted.cov), 0.0, None))
    draws = None
    if rounds > 0:
        draws = style_fit.bootstrap(a, b, y, X, n, ridge_theta=ridge_theta, ridge_beta=RIDGE_BETA, start=params,
                                    rounds=rounds, seed=seed, weights=weights)
        draws[:, :n] -= draws[:, :n].mean(axis=1, keepdims=True)
    intervals = _param_intervals(params, se, draws)
    votes = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    raw = {score.model_id: score.rating for score in raw_board.scores}
    ratings = bt.to_ratings(fitted.theta)
    scores = [
        StyleScore(
            model_id=model_id, name=names.get(model_id, f"#{model_id}"), rating=float(ratings[m]),
            raw_rating=raw.get(model_id, float("nan")), votes=int(votes[m]), preliminary=bool(votes[m] < min_votes),
            intervals={key: (bt.ELO_BASE + bt.ELO_SCALE * lo[m], bt.ELO_BASE + bt.ELO_SCALE * hi[m])
                       for key, (lo, hi) in intervals.items()},
        )
        for m, model_id in enumerate(ids)
    ]
    scores.sort(key=lambda s: (s.preliminary, -s.rating))
    coefficients = [
        _coefficient(name, params[n + c], scale[c], {key: (lo[n + c], hi[n + c]) for key, (lo, hi) in intervals.items()})
        for c, name in enumerate(COVARIATES[:k])
    ]
    return StyleBoard(dimension, scores, coefficients, votes_used=len(y), votes_without_style=without_style), (ids, params)


def _param_intervals(params, se, draws) -> dict[tuple[str, float], tuple[np.ndarray, np.ndarray]]:
    """Intervals of every parameter (θ centred, β standardised), each containing its point."""
    out = {}
    for level, z in _Z.items():
        out[("sandwich", level)] = (params - z * se, params + z * se)
        if draws is not None:
            tail = (1.0 - level) / 2.0
            lo, hi = np.quantile(draws, [tail, 1.0 - tail], axis=0)
            out[("bootstrap", level)] = (np.minimum(lo, params), np.maximum(hi, params))
    return out


def _coefficient(name: str, beta_std: float, scale: float, intervals: dict) -> Coefficient:
    """Coefficient per unit of the contrast (undoing the standardisation) and its plain-words effect."""
    if np.isnan(scale):  # the feature never varied: its coefficient is the prior's 0, not a finding
        return Coefficient(name=name, estimate=0.0, win_probability=0.5, observed=False,
                           intervals={key: (0.5, 0.5) for key in intervals})
    contrast = CONTRASTS[name] / scale

    def win(value: float) -> float:
        return float(expit(value * contrast))  # the logistic, without overflow for a bench's extreme contrasts

    return Coefficient(
        name=name, estimate=float(beta_std / scale), win_probability=win(beta_std),
        intervals={key: (win(lo), win(hi)) for key, (lo, hi) in intervals.items()},
    )
