"""Writes of the answers' style features (arena/style.py), for the style-controlled leaderboard.

They are computed for voted battles, in the Celery batch that checks new votes (arena/tasks.py), not
when the relay saves an answer: lingua takes milliseconds per sentence (126 ms for a 32,000-character
answer) and seconds to load in each process, work the battle socket's thread pool and its worker's CPU
should not carry while hundreds of streams are relayed. Only voted battles enter the fit, and an
answer is final once its battle is voted."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import IntegerField, Q, Sum
from django.db.models.functions import Coalesce

from arena.models import AnswerStyle, Message, Vote, VoteStyle
from arena.ranking.style_data import SIDE_FEATURES  # the per-vote sums the fit reads
from arena.style import candidate_sentences, detect_languages, style_features

logger = logging.getLogger(__name__)
ANSWERS_PER_DETECTION = 1000  # answers whose sentences go to lingua in one call (bounds its memory)


def store_answer_styles(*, battle_ids: Iterable) -> int:
    """Store the features of these battles' answers that have none yet; returns how many were stored.
    A detector failure skips that answer (logged) and never touches the answer itself."""
    battle_ids = list(battle_ids)
    # Key order (here and below): concurrent writers of overlapping rows then wait instead of deadlocking.
    missing = list(Message.objects.filter(battle_id__in=battle_ids, role=Message.Role.ASSISTANT, style__isnull=True)
                   .order_by("pk").values_list("pk", "battle_id", "side", "content", "token_count"))
    rows = []
    for start in range(0, len(missing), ANSWERS_PER_DETECTION):
        answers = missing[start:start + ANSWERS_PER_DETECTION]
        languages = _detected_together([content for *_, content, _tokens in answers])
        for message_id, battle_id, side, content, token_count in answers:
            try:
                style = style_features(content, token_count, languages)
            except Exception:  # noqa: BLE001 - one bad answer must not stop the batch
                logger.exception("style features of message %s failed", message_id)
                continue
            rows.append(AnswerStyle(
                message_id=message_id, battle_id=battle_id, side=side, tokens=style.tokens, headers=style.headers,
                list_items=style.list_items, bold=style.bold, basque_chars=style.basque_chars,
                language_chars=style.language_chars))
    with transaction.atomic():
        AnswerStyle.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent batch may have stored some
        store_vote_styles(battle_ids=battle_ids)
    return len(rows)


def _detected_together(texts: list[str]) -> dict[str, str | None] | None:
    """The languages of all these answers' sentences, in one lingua call; None when it fails (each
    answer is then detected alone, so a failure skips only its own answer)."""
    try:
        return detect_languages(sentence for text in texts for sentence in candidate_sentences(text or ""))
    except Exception:  # noqa: BLE001 - the answers are tried one by one instead
        logger.exception("language detection of %d answers failed; detecting them one by one", len(texts))
        return None


def store_vote_styles(*, battle_ids: Iterable) -> int:
    """(Re)write the per-vote sums of these battles' answer features: one ``VoteStyle`` row per vote
    with at least one stored answer. An upsert, so a batch that stored more answers later corrects it."""
    sums = {
        f"{name}_{side.lower()}": Coalesce(Sum(name, filter=Q(side=side)), 0, output_field=IntegerField())
        for side in "AB" for name in SIDE_FEATURES
    }
    battle_ids = list(battle_ids)
    per_battle = AnswerStyle.objects.filter(battle_id__in=battle_ids).values("battle_id").annotate(**sums)
    features = {row.pop("battle_id"): row for row in per_battle}
    votes = Vote.objects.filter(battle_id__in=list(features)).order_by("pk").values_list("pk", "battle_id")
    rows = [VoteStyle(vote_id=vote_id, **features[battle_id]) for vote_id, battle_id in votes]
    VoteStyle.objects.bulk_create(rows, update_conflicts=True, unique_fields=["vote"], update_fields=list(sums))
    return len(rows)
