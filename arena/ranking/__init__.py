"""Bradley–Terry leaderboard: SQL counts -> choix fit -> bootstrap / analytic intervals -> cache."""
from arena.ranking.board import (
    LEVELS, METHODS, DimensionBoard, Leaderboard, ModelScore, build_leaderboard, ranking_settings,
)
from arena.ranking.cache import (
    get_leaderboard, mark_stale, maybe_schedule_refresh, refresh_leaderboard, sampling_state,
)
from arena.ranking.counts import DIMENSIONS, VoteFilters, count_votes

__all__ = [
    "DIMENSIONS", "LEVELS", "METHODS", "DimensionBoard", "Leaderboard", "ModelScore", "VoteFilters",
    "build_leaderboard", "count_votes", "get_leaderboard", "mark_stale", "maybe_schedule_refresh",
    "leaderboard_scores", "ranking_settings", "refresh_leaderboard", "sampling_state",
]


def leaderboard_scores(dimension: str = "overall") -> dict[str, float]:
    """{public name: score} of the public board (default filters), e.g. for benchmark correlations."""
    from arena.models import ArenaConfig

    board = get_leaderboard(VoteFilters(), both_bad_as_tie=ArenaConfig.current().both_bad_as_tie)
    return {score.name: score.rating for score in board.boards[dimension].scores}
