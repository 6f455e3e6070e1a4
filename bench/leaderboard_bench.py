"""Leaderboard benchmark: 1,000,000 votes over 21 models in PostgreSQL.

Creates a separate database (default ``arena_bench``), migrates it, loads the votes with COPY,
then times

* ours: ``arena.ranking.build_leaderboard`` from the database: one SQL GROUP BY, choix point fit,
  vectorised multinomial bootstrap (1000 rounds) + analytic intervals, for all 3 dimensions;
* a baseline reproducing FastChat's published method (``elo_analysis.py``: load the battles
  into pandas, collapse them to unique (A, B, outcome) rows, fit BT with scipy L-BFGS, 100
  multinomial bootstrap rounds, each fitted separately in a process pool), same data, same
  dimensions;

checks that both give the same ratings (within 0.5 points) and drops the database afterwards.

With ``--style`` (issue #12) every answer also gets stored style features (``AnswerStyle``: tokens,
headers, list items, bold spans, Basque share; votes are simulated with style effects and a
left-side bias), and the bench also times

* ours, style-controlled: ``style_data.load_style_rows`` (one COPY, binary, into numpy) + the
  Bradley–Terry fit with covariates and sandwich intervals for all 3 dimensions (the < 5 s goal);
  then the same with ``--style-rounds`` Poisson-bootstrap refits, timed once;
* FastChat's published style control (``compute_style_control``: FastChat's 4 features as
  (a − b)/(a + b + 1), standardised, L-BFGS with an L2 penalty of 0.5) on the same votes, point fit
  per dimension, and checks that our fit with the same features and regularisation agrees within
  0.5 points.

    python bench/leaderboard_bench.py                 # 1M votes, keeps nothing
    python bench/leaderboard_bench.py --votes 200000 --keep
    python bench/leaderboard_bench.py --style --skip-baseline --repeat 3
"""
from __future__ import annotations

import argparse
import io
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from functools import partial

import numpy as np
import pandas as pd
import psycopg
from scipy.optimize import minimize
from scipy.special import expit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SERVER = "postgres://postgres@127.0.0.1:5432"
DIMENSIONS = ("overall", "content", "language")


# ------------------------------------------------------------------ database set-up


def copy_frame(raw, table: str, frame) -> None:
    """Write a DataFrame into ``table`` with COPY (CSV), the fast way to load a million rows."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    with raw.cursor().copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
        copy.write(buffer.getvalue())

def create_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{name}"
    os.environ.pop("REDIS_URL", None)  # the bench measures computation, not a shared cache
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def outcomes(rng, gap: np.ndarray, tie_rate: float = 0.3) -> np.ndarray:
    """Side-A outcome codes 0 = A, 1 = tie, 2 = B with E[A + ½ tie] = σ(gap)."""
    p = expit(gap)
    tie = 2 * tie_rate * np.minimum(p, 1 - p)
    u = rng.random(len(gap))
    return np.where(u < tie, 1, np.where(u < tie + p - tie / 2, 0, 2))


def load_votes(votes: int, n_models: int, seed: int, style: bool = False) -> dict:
    """21 models, 2,000 participants, ``votes`` voted battles over 180 days, 3% flagged; COPY in.
    With ``style``: per-answer style features too, and votes that respond to them."""
    from django.db import connection
    from django.utils import timezone

    from arena.models import Participant
    from arena.ranking.style_data import SIDE_FEATURES
    from models_serving.models import ServedModel

    rng = np.random.default_rng(seed)
    models = [ServedModel.objects.create(public_name=f"bench-model-{k:02d}", health="healthy") for k in range(n_models)]
    levels = [c for c, _ in Participant.BasqueLevel.choices]
    educations = [c for c, _ in Participant.Education.choices]
    people = Participant.objects.bulk_create([
        Participant(basque_level=levels[k % len(levels)], education=educations[k % len(educations)],
                    consent_version="bench", consented_at=timezone.now())
        for k in range(2000)
    ])
    model_ids = np.array([m.pk for m in models])
    person_ids = np.array([p.pk for p in people])
    person_level = np.array([p.basque_level for p in people])
    person_edu = np.array([p.education for p in people])

    truth = {
        "overall": rng.normal(0, 150 / (400 / math.log(10)), n_models),
    }
    truth["content"] = truth["overall"] + rng.normal(0, 0.2, n_models)
    truth["language"] = truth["overall"] + rng.normal(0, 0.4, n_models)

    a = rng.integers(0, n_models, votes)
    b = (a + rng.integers(1, n_models, votes)) % n_models
    features = simulate_style(rng, n_models, a, b) if style else None
    effect = features["effect"] if style else 0.0
    codes = {dim: outcomes(rng, truth[dim][a] - truth[dim][b] + effect) for dim in DIMENSIONS}
    overall_labels = np.array(["A", "tie", "B"], dtype=object)[codes["overall"]]
    both_bad = (codes["overall"] == 1) & (rng.random(votes) < 0.3)
    overall_labels[both_bad] = "both_bad"
    who = rng.integers(0, len(people), votes)
    start = pd.Timestamp("2026-05-01", tz="UTC")
    when = start + pd.to_timedelta(np.sort(rng.random(votes)) * 180 * 86400, unit="s")
    flagged = rng.random(votes) < 0.03
    reasons = np.where(rng.random(votes) < 0.5, '["too_short"]', '["identity_leak"]')
    battle_ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(votes)]
    side = np.array(["A", "tie", "B"], dtype=object)
    chunk = 200_000
    with connection.cursor() as cursor:
        raw = cursor.connection
        for lo in range(0, votes, chunk):
            hi = min(votes, lo + chunk)
            stamps = when[lo:hi].strftime("%Y-%m-%d %H:%M:%S.%f+00")
            battles = pd.DataFrame({
                "id": battle_ids[lo:hi], "participant_id": person_ids[who[lo:hi]],
                "model_a_id": model_ids[a[lo:hi]], "model_b_id": model_ids[b[lo:hi]], "status": "voted",
                "snapshot_a": "{}", "snapshot_b": "{}", "failure_reason": "", "created_at": stamps, "updated_at": stamps,
            })
            vote_rows = pd.DataFrame({
                "battle_id": battle_ids[lo:hi], "participant_id": person_ids[who[lo:hi]],
                "model_a_id": model_ids[a[lo:hi]], "model_b_id": model_ids[b[lo:hi]],
                "content": side[codes["content"][lo:hi]], "language": side[codes["language"][lo:hi]],
                "overall": overall_labels[lo:hi], "basque_level": person_level[who[lo:hi]],
                "education": person_edu[who[lo:hi]], "excluded": np.where(flagged[lo:hi], "t", "f"),
                "exclusion_reasons": np.where(flagged[lo:hi], reasons[lo:hi], "[]"), "created_at": stamps,
            })
            for table, frame in (("arena_battle", battles), ("arena_vote", vote_rows)):
                copy_frame(raw, table, frame)
            if style:
                copy_style(raw, battle_ids, features, lo, hi)
        cursor.execute("VACUUM ANALYZE arena_battle")
        cursor.execute("VACUUM ANALYZE arena_vote")
        if style:
            cursor.execute("SELECT setval(pg_get_serial_sequence('arena_message', 'id'), %s)", [2 * votes])
            cursor.execute("VACUUM ANALYZE arena_message")
            cursor.execute("VACUUM ANALYZE arena_answerstyle")
            # What services/styles.store_vote_styles writes per checked batch, in one statement here.
            sums = ", ".join(f"SUM(CASE WHEN s.side = '{side}' THEN s.{name} ELSE 0 END)"
                             for side in "AB" for name in SIDE_FEATURES)
            columns = ", ".join(f"{name}_{side}" for side in "ab" for name in SIDE_FEATURES)
            cursor.execute(f"INSERT INTO arena_votestyle (vote_id, {columns}) SELECT v.id, {sums} FROM arena_vote v "
                           "JOIN arena_answerstyle s ON s.battle_id = v.battle_id GROUP BY v.id")
            cursor.execute("VACUUM ANALYZE arena_votestyle")
    return {"models": models, "truth": truth}


STYLE_EFFECTS = {"tokens": 0.6, "headers": 0.1, "list_items": 0.15, "bold": 0.1, "basque_share": 0.8, "left": 0.08}


def simulate_style(rng, n_models: int, a: np.ndarray, b: np.ndarray) -> dict:
    """Per-answer features drawn around each model's habits, and the logit shift they cause."""
    votes = len(a)
    habit_tokens = rng.uniform(150, 700, n_models)
    habit_md = rng.uniform(0, 4, (n_models, 3))
    habit_basque = rng.uniform(0.6, 1.0, n_models)
    out = {}
    for side, idx in (("a", a), ("b", b)):
        out[f"tokens_{side}"] = np.maximum(1, rng.normal(habit_tokens[idx], 0.3 * habit_tokens[idx])).astype(int)
        for c, name in enumerate(("headers", "list_items", "bold")):
            out[f"{name}_{side}"] = rng.poisson(habit_md[idx, c])
        language = rng.integers(200, 2000, votes)
        share = np.clip(rng.normal(habit_basque[idx], 0.1), 0, 1)
        out[f"language_chars_{side}"] = language
        out[f"basque_chars_{side}"] = (share * language).astype(int)
    ratio = {name: (out[f"{name}_a"] - out[f"{name}_b"]) / (out[f"{name}_a"] + out[f"{name}_b"] + 1.0)
             for name in ("tokens", "headers", "list_items", "bold")}
    share_diff = out["basque_chars_a"] / out["language_chars_a"] - out["basque_chars_b"] / out["language_chars_b"]
    out["effect"] = (sum(STYLE_EFFECTS[name] * ratio[name] for name in ratio)
                     + STYLE_EFFECTS["basque_share"] * share_diff + STYLE_EFFECTS["left"])
    return out


def copy_style(raw, battle_ids: list, features: dict, lo: int, hi: int) -> None:
    """COPY both answers of votes lo..hi into arena_message (ids 2v+1, 2v+2) and arena_answerstyle."""
    count = hi - lo
    ids = np.arange(2 * lo + 1, 2 * hi + 1)
    sides = np.tile(["A", "B"], count)
    battles = np.repeat(battle_ids[lo:hi], 2)
    messages = pd.DataFrame({"id": ids, "battle_id": battles, "turn": 0, "role": "assistant", "side": sides,
                             "content": "", "finish_reason": "stop", "error": "", "token_count": 0,
                             "created_at": "2026-05-01 00:00:00+00"})

    def interleave(name):
        return np.column_stack([features[f"{name}_a"][lo:hi], features[f"{name}_b"][lo:hi]]).reshape(-1)

    styles = pd.DataFrame({"message_id": ids, "battle_id": battles, "side": sides,
                           **{name: interleave(name) for name in
                              ("tokens", "headers", "list_items", "bold", "basque_chars", "language_chars")}})
    for table, frame in (("arena_message", messages), ("arena_answerstyle", styles)):
        copy_frame(raw, table, frame)


# ------------------------------------------------------------------ style control: ours and FastChat's

FASTCHAT_FEATURES = ("tokens", "headers", "list_items", "bold")


def ours_style(rounds: int):
    """Style-controlled boards for the 3 dimensions from the database, as the leaderboard builds them."""
    from arena.ranking.board import ranking_settings, ridge_for
    from arena.ranking.counts import VoteFilters
    from arena.ranking.style_board import style_boards
    from arena.ranking.style_data import load_style_rows

    knobs = ranking_settings()
    rows = load_style_rows(VoteFilters())
    raw_boards = {dim: type("Raw", (), {"scores": []})() for dim in DIMENSIONS}
    return rows, style_boards(rows, raw_boards, {}, both_bad_as_tie=True, ridge_theta=ridge_for(knobs["prior_sd"]),
                              rounds=rounds, seed=knobs["seed"], min_votes=knobs["min_votes"])


def fastchat_style_fit(a, b, y, X, n, reg=0.5, tol=1e-6):
    """FastChat's ``fit_contextual_bt`` (rating_systems.py): L-BFGS on the per-vote log loss, ratings in
    log10 units, L2 penalty reg/2 on every parameter."""
    alpha = math.log(10.0)

    def loss_and_grad(params):
        ratings, beta = params[:n], params[n:]
        probs = expit(alpha * (ratings[a] - ratings[b]) + X @ beta)
        loss = -(np.log(probs) * y + np.log(1.0 - probs) * (1.0 - y)).sum() + reg / 2 * params @ params
        error = y - probs
        grad = reg * params
        np.add.at(grad[:n], np.column_stack([a, b]), (-alpha * error)[:, None] * np.array([1.0, -1.0]))
        grad[n:] -= X.T @ error
        return loss, grad

    result = minimize(loss_and_grad, np.zeros(n + X.shape[1]), jac=True, method="L-BFGS-B",
                      options={"disp": False, "maxiter": 100, "gtol": tol})
    return 400 * result.x[:n] + 1000


def compare_style_with_fastchat(rows) -> float:
    """FastChat's features and regularisation, fitted by FastChat's method and by ours: max rating gap."""
    from arena.ranking import bt, style_fit
    from arena.ranking.style_board import covariates, outcome_y

    X_all, _ = covariates(rows)
    X_all = X_all[:, :len(FASTCHAT_FEATURES)]  # FastChat has neither the Basque share nor the position
    worst = 0.0
    for dim in DIMENSIONS:
        y, keep = outcome_y(rows.outcomes[dim], True)
        ids, inverse = np.unique(np.concatenate([rows.model_a[keep], rows.model_b[keep]]), return_inverse=True)
        a, b, X, n = inverse[:keep.sum()], inverse[keep.sum():], X_all[keep], len(ids)
        X = (X - X.mean(axis=0)) / X.std(axis=0)  # FastChat standardises over the votes it fits
        started = time.perf_counter()
        theirs = fastchat_style_fit(a, b, y, X, n)
        their_time = time.perf_counter() - started
        started = time.perf_counter()
        ours = style_fit.fit(a, b, y, X, n, ridge_theta=0.5 / math.log(10.0) ** 2, ridge_beta=0.5)
        our_time = time.perf_counter() - started
        gap = float(np.abs(bt.to_ratings(ours[:n]) - theirs).max())
        worst = max(worst, gap)
        print(f"  {dim:8s}: FastChat compute_style_control point fit {their_time:.3f} s, ours {our_time:.3f} s; "
              f"max |ours - FastChat| = {gap:.4f} points")
    return worst


# ------------------------------------------------------------------ FastChat baseline

def preprocess_for_bt(df: pd.DataFrame):
    """FastChat ``preprocess_for_bt``: unique (A, B, outcome) rows with their counts."""
    n_rows = len(df)
    model_indices, models = pd.factorize(pd.concat([df["model_a"], df["model_b"]]))
    matchups = np.column_stack([model_indices[:n_rows], model_indices[n_rows:]])
    schedule = np.full((n_rows, 3), fill_value=1, dtype=np.int32)
    schedule[:, [0, 1]] = matchups
    schedule[df["winner"].to_numpy() == "model_a", 2] = 2
    schedule[df["winner"].to_numpy() == "model_b", 2] = 0
    matchups_outcomes, weights = np.unique(schedule, return_counts=True, axis=0)
    matchups = matchups_outcomes[:, [0, 1]]
    outcomes_ = matchups_outcomes[:, 2].astype(np.float64) / 2.0
    return matchups, outcomes_, models, weights.astype(np.float64)


def bt_loss_and_grad(ratings, matchups, outcomes_, weights, alpha=1.0):
    matchup_ratings = ratings[matchups]
    logits = alpha * (matchup_ratings[:, 0] - matchup_ratings[:, 1])
    probs = expit(logits)
    loss = -((np.log(probs) * outcomes_ + np.log(1.0 - probs) * (1.0 - outcomes_)) * weights).sum()
    matchups_grads = -alpha * (outcomes_ - probs) * weights
    model_grad = np.zeros_like(ratings)
    np.add.at(model_grad, matchups[:, [0, 1]], matchups_grads[:, None] * np.array([1.0, -1.0], dtype=np.float64))
    return loss, model_grad


def fit_bt(matchups, outcomes_, weights, n_models, alpha, tol=1e-6):
    result = minimize(fun=bt_loss_and_grad, x0=np.zeros(n_models), args=(matchups, outcomes_, weights, alpha),
                      jac=True, method="L-BFGS-B", options={"maxiter": 100, "gtol": tol})
    return result["x"]


def compute_bt(df, base=10.0, scale=400.0, init_rating=1000, tol=1e-6):
    matchups, outcomes_, models, weights = preprocess_for_bt(df)
    ratings = fit_bt(matchups, outcomes_, weights, len(models), math.log(base), tol)
    return pd.Series(ratings * scale + init_rating, index=models)


def compute_bootstrap_bt(df, num_round, base=10.0, scale=400.0, init_rating=1000.0, tol=1e-6, pool=None):
    matchups, outcomes_, models, weights = preprocess_for_bt(df)
    rng = np.random.default_rng(seed=0)
    idxs = rng.multinomial(n=len(df), pvals=weights / weights.sum(), size=num_round)
    boot_weights = idxs.astype(np.float64) / len(df)
    bt_fn = partial(fit_bt, matchups, outcomes_, n_models=len(models), alpha=np.log(base), tol=tol)
    results = list(pool.imap_unordered(bt_fn, boot_weights)) if pool else [bt_fn(w) for w in boot_weights]
    return pd.DataFrame(np.array(results) * scale + init_rating, columns=models)


def fastchat_baseline(rounds: int, pool) -> dict[str, pd.Series]:
    """Load all votes into pandas, then FastChat's BT + bootstrap per dimension."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ma.public_name, mb.public_name, v.content, v.language, v.overall "
            "FROM arena_vote v "
            "JOIN models_serving_servedmodel ma ON ma.id = v.model_a_id "
            "JOIN models_serving_servedmodel mb ON mb.id = v.model_b_id WHERE NOT v.excluded"
        )
        battles = pd.DataFrame(cursor.fetchall(), columns=["model_a", "model_b", *("content", "language", "overall")])
    winner_of = {"A": "model_a", "B": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
    out = {}
    for dim in DIMENSIONS:
        df = pd.DataFrame({"model_a": battles["model_a"], "model_b": battles["model_b"],
                           "winner": battles[dim].map(winner_of)})
        point = compute_bt(df)
        boot = compute_bootstrap_bt(df, rounds, pool=pool)
        out[dim] = (point, boot.quantile(0.05), boot.quantile(0.95))
    return out


# ------------------------------------------------------------------ main

def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=1000, help="our bootstrap rounds per dimension")
    parser.add_argument("--baseline-rounds", type=int, default=100)
    parser.add_argument("--baseline-processes", type=int, default=os.cpu_count(),
                        help="FastChat fits bootstrap rounds in a process pool (0: in-process)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-baseline", action="store_true", help="time ours only")
    parser.add_argument("--database", default="arena_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database (reuse with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="use an existing loaded database")
    parser.add_argument("--style", action="store_true", help="store style features and time style control too")
    parser.add_argument("--style-rounds", type=int, default=100, help="Poisson-bootstrap refits, style-controlled")
    args = parser.parse_args()
    # The Celery worker runs with these (deploy/Procfile): freed memory is kept and reused, since first
    # touching fresh pages is slow here. Without them the first (cold) repeat shows the difference.
    malloc = {name: os.environ.get(name) for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    print(f"glibc malloc settings: {malloc}; load {os.getloadavg()[0]:.2f}")

    if not args.reuse:
        create_database(args.database)
    try:
        setup_django(args.database)
        from arena.ranking import VoteFilters, build_leaderboard
        from arena.ranking.counts import count_votes

        if not args.reuse:
            started = time.perf_counter()
            load_votes(args.votes, args.models, seed=1, style=args.style)
            print(f"loaded {args.votes:,} votes over {args.models} models with COPY in {time.perf_counter() - started:.1f} s")
        from arena.models import Vote

        total = Vote.objects.count()
        print(f"votes in database: {total:,} ({Vote.objects.filter(excluded=True).count():,} flagged, left out)")

        from arena.ranking.board import leaderboard_from_counts, ranking_settings

        if args.style:
            style_times, (rows, boards) = timed(lambda: ours_style(0), args.repeat)
            print(f"ours: style-controlled, 3 dims, sandwich intervals, from the database ({len(rows):,} votes): "
                  f"min {min(style_times):.3f} s  median {statistics.median(style_times):.3f} s")
            effects = {c.name: round(c.win_probability, 3) for c in boards["overall"].coefficients}
            print(f"  overall coefficients as win probabilities: {effects}")
            boot_times, _ = timed(lambda: ours_style(args.style_rounds), 1)
            print(f"ours: style-controlled with {args.style_rounds} bootstrap refits per dimension: {boot_times[0]:.3f} s")
            worst_style = compare_style_with_fastchat(rows)
            print(f"style control agrees with FastChat's within {worst_style:.4f} points "
                  f"({'OK' if worst_style < 0.5 else 'FAIL'} at 0.5)")

        sql_times, counted = timed(lambda: count_votes(VoteFilters()), args.repeat)
        knobs = {**ranking_settings(), "rounds": args.rounds}
        fit_times, _ = timed(lambda: leaderboard_from_counts(counted, VoteFilters(), True, **knobs), args.repeat)
        ours_times, board = timed(lambda: build_leaderboard(VoteFilters(), rounds=args.rounds, style_rounds=0),
                                  args.repeat)
        print(f"ours: SQL GROUP BY alone  min {min(sql_times):.3f} s  median {statistics.median(sql_times):.3f} s")
        print(f"ours: fits + intervals alone (from counts)  min {min(fit_times):.3f} s  "
              f"median {statistics.median(fit_times):.3f} s")
        print(f"ours: full leaderboard (3 dims x {args.rounds} bootstrap rounds + analytic CIs"
              f"{', + style-controlled with sandwich CIs' if args.style else ''}) "
              f"min {min(ours_times):.3f} s  median {statistics.median(ours_times):.3f} s  "
              f"(all runs: {', '.join(f'{t:.3f}' for t in ours_times)})")

        if args.skip_baseline:
            return
        pool = mp.get_context("fork").Pool(args.baseline_processes) if args.baseline_processes else None
        try:
            base_times, baseline = timed(lambda: fastchat_baseline(args.baseline_rounds, pool), max(1, args.repeat // 2))
        finally:
            if pool:
                pool.close()
                pool.join()
        print(f"FastChat baseline (pandas + L-BFGS, {args.baseline_rounds} bootstrap rounds, "
              f"{args.baseline_processes or 1} process(es)) min {min(base_times):.3f} s  "
              f"median {statistics.median(base_times):.3f} s")
        print(f"speed-up (min/min): {min(base_times) / min(ours_times):.1f}x, "
              f"(median/median): {statistics.median(base_times) / statistics.median(ours_times):.1f}x")

        worst = 0.0
        for dim in DIMENSIONS:
            ours = {s.name: s for s in board.boards[dim].scores}
            point, lower, upper = baseline[dim]
            diffs = [abs(ours[name].rating - point[name]) for name in point.index]
            width_ours = np.mean([s.intervals[("bootstrap", 0.9)][1] - s.intervals[("bootstrap", 0.9)][0] for s in ours.values()])
            width_base = float((upper - lower).mean())
            worst = max(worst, max(diffs))
            print(f"  {dim:8s}: max |ours - FastChat| rating = {max(diffs):.4f}; mean 90% CI width "
                  f"ours {width_ours:.2f} vs FastChat {width_base:.2f}")
        print(f"ratings agree within {worst:.4f} points ({'OK' if worst < 0.5 else 'FAIL'} at 0.5)")
    finally:
        if not args.keep:
            drop_database(args.database)
            print(f"dropped database {args.database}")


if __name__ == "__main__":
    main()
