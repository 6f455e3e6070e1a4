"""Campaigns: a period in which volunteers compare a chosen set of models, with vote targets and an
optional reward rule (the study gave one raffle entry per 10 valid votes)."""
from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Campaign(models.Model):
    slug = models.SlugField(_("code"), max_length=60, unique=True)
    title_eu = models.CharField(_("title (Basque)"), max_length=200)
    title_es = models.CharField(_("title (Spanish)"), max_length=200, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    description_eu = models.TextField(_("description (Basque)"), blank=True)
    description_es = models.TextField(_("description (Spanish)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    served_models = models.ManyToManyField(
        "models_serving.ServedModel", through="CampaignModel", related_name="campaigns", verbose_name=_("models"),
        help_text=_("None listed: every active model takes part."),
    )
    vote_target = models.PositiveIntegerField(_("vote target"), default=0, help_text=_("0: no target."))
    votes_per_raffle_entry = models.PositiveIntegerField(
        _("valid votes per raffle entry"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Reward rule: one raffle entry per this many valid votes. Empty: no raffle."),
    )
    reward_eu = models.CharField(_("reward (Basque)"), max_length=300, blank=True)
    reward_es = models.CharField(_("reward (Spanish)"), max_length=300, blank=True)
    reward_en = models.CharField(_("reward (English)"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="campaign_ends_after_start"),
        ]

    def __str__(self) -> str:
        return self.title_eu

    def _localised(self, field: str, language: str) -> str:
        return getattr(self, f"{field}_{language[:2]}", "") or getattr(self, f"{field}_eu")

    def title_for(self, language: str) -> str:
        return self._localised("title", language)

    def description_for(self, language: str) -> str:
        return self._localised("description", language)

    def reward_for(self, language: str) -> str:
        return self._localised("reward", language)


class CampaignModel(models.Model):
    """A model taking part in a campaign, with its own vote target."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="entries")
    model = models.ForeignKey("models_serving.ServedModel", on_delete=models.PROTECT, related_name="campaign_entries")
    vote_target = models.PositiveIntegerField(_("vote target"), default=0, help_text=_("0: no target."))

    class Meta:
        verbose_name = _("campaign model")
        verbose_name_plural = _("campaign models")
        constraints = [models.UniqueConstraint(fields=["campaign", "model"], name="campaign_model_once")]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.model}"
