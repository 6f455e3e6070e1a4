"""Battles, their messages, and the votes on them with the conversations as judged."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from arena.models.accounts import Participant
from arena.vocabulary import Choice, OverallChoice, Side


class Battle(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERING = "answering", _("Answering")
        READY = "ready", _("Ready to vote")
        VOTED = "voted", _("Voted")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned")

    OPEN_STATUSES = (Status.OPEN, Status.ANSWERING, Status.READY)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="battles")
    model_a = models.ForeignKey("models_serving.ServedModel", on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey("models_serving.ServedModel", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    # Frozen system prompt + sampling parameters of each side when the battle began.
    snapshot_a = models.JSONField(default=dict)
    snapshot_b = models.JSONField(default=dict)
    failure_reason = models.TextField(blank=True)
    campaign = models.ForeignKey(
        "arena.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="battles",
        verbose_name=_("campaign"),
    )
    # Kinds of personal data (arena/privacy.py) found in any of its prompts; exports leave such
    # conversations out unless asked to include them.
    privacy_flags = models.JSONField(_("personal data found"), default=list, db_default=[], blank=True)
    # Moderation (ModerationAction keeps who and why): flagged for review; hidden from every export.
    # db_default: bulk loaders (COPY) may omit the columns, as for Vote.weight.
    flagged = models.BooleanField(_("flagged"), default=False, db_default=False)
    hidden = models.BooleanField(_("hidden from exports"), default=False, db_default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("battle")
        verbose_name_plural = _("battles")
        constraints = [
            models.CheckConstraint(condition=~models.Q(model_a=models.F("model_b")), name="battle_distinct_models"),
        ]

    def __str__(self) -> str:
        return f"battle {self.id} ({self.status})"

    def model_for(self, side: str):
        return self.model_a if side == Side.A else self.model_b

    def snapshot_for(self, side: str) -> dict:
        return self.snapshot_a if side == Side.A else self.snapshot_b


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "user"
        ASSISTANT = "assistant", "assistant"

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="messages")
    turn = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    # Blank for the user's prompt (sent to both sides); "A" or "B" (vocabulary.Side) for an answer.
    side = models.CharField(max_length=1, blank=True)
    content = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)
    token_count = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["turn", "role", "side"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["battle", "turn", "role", "side"], name="message_unique_slot"),
        ]


class Vote(models.Model):
    """One per battle, never edited. Exclusion flags are added by the quality checks; excluded
    votes are kept and reported, never deleted."""

    battle = models.OneToOneField(Battle, on_delete=models.PROTECT, related_name="vote")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="votes")
    # Copies of the battle's pair: rankings group votes by pair without joining battles (2x faster at 1M votes).
    model_a = models.ForeignKey("models_serving.ServedModel", on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey("models_serving.ServedModel", on_delete=models.PROTECT, related_name="+")
    # Copy of the battle's campaign: per-campaign boards and exports filter votes without a join.
    campaign = models.ForeignKey("arena.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="votes")
    content = models.CharField(max_length=3, choices=Choice.choices)
    language = models.CharField(max_length=3, choices=Choice.choices)
    overall = models.CharField(max_length=8, choices=OverallChoice.choices)
    # Snapshots of who voted, so rankings per group survive profile edits and deletions.
    basque_level = models.CharField(max_length=10, blank=True)
    education = models.CharField(max_length=20, blank=True)
    excluded = models.BooleanField(default=False, db_index=True)
    exclusion_reasons = models.JSONField(default=list, blank=True)
    # Weight in the leaderboard's fit: below 1 when its prompt is one of many near-duplicates
    # (services.labels.reweight_duplicates caps a prompt's votes at LEADERBOARD_PROMPT_CAP in total).
    weight = models.FloatField(default=1.0, db_default=1.0)  # db_default: bulk loaders (COPY) may omit it
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    # When the quality checks ran on it. Unset: its check was lost (the broker was down when it was
    # queued); the beat task ``arena.check_pending_votes`` catches up.
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("vote")
        verbose_name_plural = _("votes")
        permissions = [("export_votes", "Can export preference data")]
        indexes = [models.Index(fields=["created_at"], condition=models.Q(checked_at__isnull=True),
                                name="arena_vote_unchecked")]


class VoteTranscript(models.Model):
    """Each side's conversation as the volunteer judged it (system prompt first, then the prompts and
    that side's answers), frozen as compact JSON text when the vote is cast: the study's record of
    what was compared, which exports copy into their output unparsed (text, not JSONField: jsonb
    would reformat it). Apart from Vote so that the rankings' scans over votes stay narrow (~2 KB
    of text per vote would make the vote table ten times wider). Votes stored without the service
    have none; exports then build the same JSON from the messages."""

    vote = models.OneToOneField(Vote, on_delete=models.CASCADE, primary_key=True, related_name="transcript")
    side_a = models.TextField()
    side_b = models.TextField()

    class Meta:
        verbose_name = _("vote transcript")
        verbose_name_plural = _("vote transcripts")
