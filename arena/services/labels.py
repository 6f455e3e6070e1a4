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


LABEL_BATCH = 500  # battles labelled in one transaction


def label_battle(*, battle_id) -> PromptLabel | None:
    """Label the battle's first prompt; None when it has none (or the battle is gone)."""
    if not label_battles(battle_ids=[battle_id]):
        return None
    return PromptLabel.objects.get(battle_id=battle_id)


@transaction.atomic
def label_battles(*, battle_ids: Iterable) -> int:
    """Label these battles' first prompts, a few queries for them all; returns how many had a prompt.
    The same prompt text is labelled once (copy-pasted prompts are common)."""
    first_prompts: dict = {}
    rows = (Message.objects.filter(battle_id__in=list(battle_ids), role=Message.Role.USER)
            .order_by("battle_id", "turn").values_list("battle_id", "content"))
    for battle_id, content in rows:
        first_prompts.setdefault(battle_id, content)
    if not first_prompts:
        return 0
    active = list(Category.objects.filter(is_active=True))
    chosen = categories.labeller()
    labels_of = {text: _labels(text, chosen, active) for text in dict.fromkeys(first_prompts.values())}
    labels = [PromptLabel(battle_id=battle_id, language=labels_of[text][0], signature=labels_of[text][1])
              for battle_id, text in first_prompts.items()]
    # One upsert: ``duplicates`` (reweight_duplicates') is left as it is on a relabelled prompt.
    PromptLabel.objects.bulk_create(labels, update_conflicts=True, unique_fields=["battle"],
                                    update_fields=["language", "signature", "labelled_at"])
    through = PromptLabel.categories.through
    through.objects.filter(promptlabel_id__in=list(first_prompts)).delete()
    through.objects.bulk_create([through(promptlabel_id=battle_id, category_id=category.pk)
                                 for battle_id, text in first_prompts.items() for category in labels_of[text][2]])
    return len(labels)


def _labels(prompt: str, chosen, active: list[Category]) -> tuple[str, bytes, list[Category]]:
    """(language, MinHash signature, categories) of one prompt."""
    slugs = set(chosen.label(prompt, active))
    return (categories.prompt_language(prompt), duplicates.signature(prompt),
            [category for category in active if category.slug in slugs])


def relabel_battles(*, battle_ids: Iterable | None = None) -> int:
    """Label these battles again (all voted battles when None), ``LABEL_BATCH`` to a transaction;
    returns how many were labelled."""
    ids = battle_ids if battle_ids is not None else Battle.objects.filter(vote__isnull=False).values_list("pk", flat=True)
    ids = list(ids)
    return sum(label_battles(battle_ids=ids[start:start + LABEL_BATCH])
               for start in range(0, len(ids), LABEL_BATCH))


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
