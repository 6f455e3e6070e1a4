"""Writes of the arena app (keyword-only, typed, transactional), one module per concern:
``accounts`` (sign-up, deletion, closing a gone account's sockets), ``battles`` (pair, prompts,
answers, turns), ``votes`` and ``exports`` (queued research exports). Callers use this package."""
from arena.services.accounts import (
    announce_account_gone, connect_account_signals, delete_participant, participant_group, register_participant,
    user_account_changed,
)
from arena.services.battles import (
    AcceptedPrompt, Answer, TurnPlan, abandon_battle, begin_turn, check_prompt, clean_prompt, complete_turn, end_turn,
    settle_stale_turn, start_battle, submit_prompt,
)
from arena.services.errors import ArenaError
from arena.services.votes import Ballot, BallotResult, cast_vote, cast_votes
from arena.services.pairing import Pair, SideCall, candidates, choose, draw_pair, side_call
from arena.services.exports import fail_stale_exports, request_export, run_export_job

__all__ = [
    "AcceptedPrompt", "Answer", "ArenaError", "Ballot", "BallotResult", "Pair", "SideCall", "TurnPlan", "abandon_battle", "announce_account_gone",
    "begin_turn", "candidates", "cast_vote", "cast_votes", "choose", "check_prompt", "clean_prompt", "complete_turn", "end_turn", "connect_account_signals", "delete_participant",
    "draw_pair", "fail_stale_exports", "participant_group", "register_participant",
    "request_export", "run_export_job", "settle_stale_turn", "side_call", "start_battle", "submit_prompt",
    "user_account_changed",
]
