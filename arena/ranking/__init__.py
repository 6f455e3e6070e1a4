"""Bradley–Terry leaderboard: SQL counts -> choix fit -> bootstrap / analytic intervals -> cache."""
from arena.models import ArenaConfig
from arena.ranking.board import DimensionBoard, Leaderboard, ModelScore, build_leaderboard
from arena.ranking.cache import (
    claim_refresh, current_strengths, get_leaderboard, mark_stale, refresh_leaderboard, sampling_state,
)
from arena.ranking.counts import VoteFilters

__all__ = [
    "DimensionBoard", "Leaderboard", "ModelScore", "VoteFilters", "build_leaderboard", "claim_refresh",
    "current_strengths", "get_leaderboard", "leaderboard_scores", "mark_stale", "refresh_leaderboard",
    "sampling_state",
]


def leaderboard_scores(dimension: str = "overall") -> dict[str, float]:
    """{public name: score} of the public board (default filters), e.g. for benchmark correlations."""
    board = get_leaderboard(VoteFilters(), both_bad_as_tie=ArenaConfig.current().both_bad_as_tie)
    return {score.name: score.rating for score in board.boards[dimension].scores}
