"""Campaign rules and reads: which campaign is running, which models it draws from, its progress.

The running campaign is the one with ``starts_at <= now < ends_at`` (the one that started last, if
several overlap). With no campaign defined at all the arena stays open as before campaigns existed
(battles get no campaign); once any is defined, battles start only while one runs.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import formats, timezone
from django.utils.functional import lazy
from django.utils.translation import gettext

from arena.models import Campaign, CampaignModel, Vote

# The channel-layer group every progress socket joins (arena/progress_consumer.py); frames name
# the campaign they are about, so one group serves every campaign.
PROGRESS_GROUP = "arena.campaign.progress"


def running_campaign(now: dt.datetime | None = None) -> Campaign | None:
    now = now or timezone.now()
    return Campaign.objects.filter(starts_at__lte=now, ends_at__gt=now).order_by("-starts_at", "-pk").first()


def next_campaign(now: dt.datetime | None = None) -> Campaign | None:
    now = now or timezone.now()
    return Campaign.objects.filter(starts_at__gt=now).order_by("starts_at", "pk").first()


@dataclass(frozen=True)
class CampaignState:
    """Whether battles may start now: ``open`` with the running campaign (None: campaigns unused),
    or closed, with the next campaign if one is planned."""

    open: bool
    campaign: Campaign | None = None
    next: Campaign | None = None

    @property
    def closed_message(self):
        return closed_message(self.next.starts_at if self.next else None)


def campaign_state(now: dt.datetime | None = None) -> CampaignState:
    now = now or timezone.now()
    campaign = running_campaign(now)
    if campaign is not None:
        return CampaignState(open=True, campaign=campaign)
    if not Campaign.objects.exists():
        return CampaignState(open=True)
    return CampaignState(open=False, next=next_campaign(now))


def _closed_message(next_start: dt.datetime | None) -> str:
    # Built when shown, so both the sentence and the date are in the reader's language.
    if next_start is None:
        return gettext("No campaign is running now, and none is planned yet. Thank you for your interest!")
    when = formats.date_format(timezone.localtime(next_start), "DATETIME_FORMAT")
    return gettext("No campaign is running now. The next one starts on %(date)s (Madrid time).") % {"date": when}


closed_message = lazy(_closed_message, str)


def campaign_pool(campaign: Campaign | None, available) -> list:
    """The models a battle may draw from ``available`` (active and healthy): the campaign's listed
    models, or all of them when it lists none (or there is no campaign)."""
    if campaign is None:
        return list(available)
    listed = list(CampaignModel.objects.filter(campaign=campaign).values_list("model_id", flat=True))
    if not listed:
        return list(available)
    return list(available.filter(pk__in=listed))


# ---------------------------------------------------------------- progress


@dataclass
class ModelProgress:
    model_id: int
    name: str
    votes: int
    target: int

    @property
    def percent(self) -> int:
        return percent(self.votes, self.target)


@dataclass
class Progress:
    """A campaign's valid votes so far against its target, and per listed model against theirs."""

    campaign: Campaign
    votes: int
    target: int
    days_left: int
    models: list[ModelProgress] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return percent(self.votes, self.target)

    def frame(self) -> dict:
        """What the progress socket sends: numbers only, public names, never anything about a battle."""
        return {"type": "progress", "campaign": self.campaign.slug, "votes": self.votes, "target": self.target,
                "percent": self.percent, "days_left": self.days_left,
                "models": {str(m.model_id): {"votes": m.votes, "percent": m.percent} for m in self.models}}


def percent(votes: int, target: int) -> int:
    """Whole percent of the target reached, capped at 100 (0 without a target)."""
    return min(100, votes * 100 // target) if target > 0 else 0


def days_left(campaign: Campaign, now: dt.datetime | None = None) -> int:
    """Days until it ends, counting a started day as a whole one (0 once it has ended)."""
    seconds = (campaign.ends_at - (now or timezone.now())).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def campaign_progress(campaign: Campaign, now: dt.datetime | None = None) -> Progress:
    """One aggregate query: the campaign's valid votes, in all and per listed model."""
    entries = list(CampaignModel.objects.filter(campaign=campaign).select_related("model").order_by("model__public_name"))
    counts = {"total": Count("pk")}
    for entry in entries:
        counts[f"m{entry.model_id}"] = Count("pk", filter=Q(model_a_id=entry.model_id) | Q(model_b_id=entry.model_id))
    row = Vote.objects.filter(campaign=campaign, excluded=False).aggregate(**counts)
    models = [ModelProgress(model_id=e.model_id, name=e.model.public_name, votes=row[f"m{e.model_id}"],
                            target=e.vote_target) for e in entries]
    return Progress(campaign=campaign, votes=row["total"], target=campaign.vote_target,
                    days_left=days_left(campaign, now), models=models)
