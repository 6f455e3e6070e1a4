"""What volunteers and moderators say about single answers and conversations: reactions, and the
moderation log (flag, hide from exports, ban)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from arena.models.accounts import Participant
from arena.models.battles import Battle, Message


class Reaction(models.Model):
    """A volunteer's optional mark on one answer; never required to vote."""

    class Kind(models.TextChoices):
        USEFUL = "useful", _("Useful")
        WRONG = "wrong", _("Wrong")
        BAD_BASQUE = "bad_basque", _("Bad Basque")
        MIXED_LANGUAGES = "mixed_languages", _("Mixes languages")
        IGNORED_INSTRUCTION = "ignored_instruction", _("Didn't follow the instruction")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="reactions")
    kind = models.CharField(_("reaction"), max_length=24, choices=Kind.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reaction")
        verbose_name_plural = _("reactions")
        constraints = [
            models.UniqueConstraint(fields=["message", "participant", "kind"], name="reaction_once_per_kind"),
        ]


class ModerationAction(models.Model):
    """One moderator decision, kept as a log: who did what to which conversation or volunteer, and why."""

    class Action(models.TextChoices):
        FLAG = "flag", _("Flag the conversation")
        HIDE = "hide", _("Hide the conversation from exports")
        UNHIDE = "unhide", _("Show the conversation in exports again")
        BAN = "ban", _("Ban the volunteer from new battles")
        UNBAN = "unban", _("Lift the ban")

    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    battle = models.ForeignKey(Battle, null=True, blank=True, on_delete=models.CASCADE, related_name="moderation")
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.CASCADE, related_name="moderation",
    )
    reason = models.TextField(_("reason"))
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("moderator"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("moderation action")
        verbose_name_plural = _("moderation actions")
