"""Writes of prompt labels: each voted battle's first prompt gets its language, categories
(arena/categories.py) and MinHash signature (arena/duplicates.py). Labelling again replaces the
labels (rules change; the admin relabels). ``reweight_duplicates`` caps near-duplicate prompts'
weight in the leaderboard."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from arena import categories, duplicates
from arena.models import Battle, Category, Message, PromptLabel, Vote


@transaction.atomic
def label_battle(*, battle_id) -> PromptLabel | None:
    """Label the battle's first prompt; None when it has none (or the battle is gone)."""
    prompt = (Message.objects.filter(battle_id=battle_id, role=Message.Role.USER).order_by("turn")
              .values_list("content", flat=True).first())
    if prompt is None or not Battle.objects.filter(pk=battle_id).exists():
        return None
    active = list(Category.objects.filter(is_active=True))
    slugs = set(categories.labeller().label(prompt, active))
    label, _created = PromptLabel.objects.update_or_create(
        battle_id=battle_id,
        defaults={"language": categories.prompt_language(prompt), "signature": duplicates.signature(prompt)})
    label.categories.set([category for category in active if category.slug in slugs])
    return label


def relabel_battles(*, battle_ids: Iterable | None = None) -> int:
    """Label these battles again (all voted battles when None), one transaction each; returns how many."""
    ids = battle_ids if battle_ids is not None else Battle.objects.filter(vote__isnull=False).values_list("pk", flat=True)
    return sum(label_battle(battle_id=battle_id) is not None for battle_id in list(ids))


@dataclass
class DuplicateReport:
    clusters: int  # groups of near-duplicate prompts
    prompts: int  # voted prompts in those groups
    capped_votes: int  # votes whose weight is now below 1


@transaction.atomic
def reweight_duplicates(*, cap: int | None = None) -> DuplicateReport:
    """Cluster the voted prompts' signatures and give each vote of a cluster larger than ``cap``
    (``LEADERBOARD_PROMPT_CAP``) the weight cap / size, so the cluster counts as ``cap`` votes; every
    other vote weighs 1. Votes stay stored and visible: only their weight in the fit changes."""
    cap = settings.ARENA["LEADERBOARD_PROMPT_CAP"] if cap is None else cap
    voted = PromptLabel.objects.filter(battle__vote__isnull=False).exclude(signature=b"")
    groups = duplicates.clusters({battle_id: bytes(raw) for battle_id, raw in voted.values_list("battle_id", "signature")})
    size_of = {battle_id: len(members) for members in groups for battle_id in members}
    PromptLabel.objects.exclude(battle_id__in=size_of).exclude(duplicates=1).update(duplicates=1)
    Vote.objects.exclude(battle_id__in=size_of).exclude(weight=1.0).update(weight=1.0)
    capped = 0
    for members in groups:
        PromptLabel.objects.filter(battle_id__in=members).update(duplicates=len(members))
        weight = min(1.0, cap / len(members)) if cap > 0 else 1.0
        Vote.objects.filter(battle_id__in=members).update(weight=weight)
        capped += len(members) if weight < 1.0 else 0
    return DuplicateReport(clusters=len(groups), prompts=len(size_of), capped_votes=capped)
