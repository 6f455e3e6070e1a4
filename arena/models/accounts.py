"""The arena's configuration, consent texts and participants."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _



class ArenaConfig(models.Model):
    """Site-wide settings an admin edits in the admin (a single row, pk=1)."""

    SINGLETON_PK = 1

    class SamplingMode(models.TextChoices):
        UNIFORM = "uniform", _("Uniform (as in the original study)")
        ADAPTIVE = "adaptive", _("Adaptive (most informative pairs first)")

    minimum_age = models.PositiveSmallIntegerField(
        _("minimum age"), default=14, validators=[MinValueValidator(1)]
    )
    sampling_mode = models.CharField(
        _("pair sampling"), max_length=10, choices=SamplingMode.choices, default=SamplingMode.ADAPTIVE
    )
    boosted_model = models.ForeignKey(
        "models_serving.ServedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("new model boost"), help_text=_("A model drawn more often until it has enough votes."),
    )
    boost_factor = models.FloatField(_("boost factor"), default=3.0, validators=[MinValueValidator(1.0)])
    both_bad_as_tie = models.BooleanField(
        _("count 'both bad' as a tie"), default=True,
        help_text=_("Overall dimension only; when off, 'both bad' votes are left out of the ranking."),
    )
    min_answer_chars = models.PositiveIntegerField(
        _("minimum answer length"), default=20,
        help_text=_("Votes on battles whose answers are shorter than this (characters) are flagged too short."),
    )
    daily_vote_cap = models.PositiveIntegerField(
        _("daily vote cap per participant"), default=200,
        help_text=_("Votes beyond this many per participant and day are flagged."),
    )

    class Meta:
        verbose_name = _("arena configuration")
        verbose_name_plural = _("arena configuration")

    def __str__(self) -> str:
        return str(_("Arena configuration"))

    @classmethod
    def current(cls) -> ArenaConfig:
        """The saved settings, or until an admin saves them the defaults, unsaved: a read never writes."""
        return cls.objects.filter(pk=cls.SINGLETON_PK).first() or cls(pk=cls.SINGLETON_PK)


class ConsentText(models.Model):
    """A versioned consent text. The newest active version is the one volunteers accept."""

    version = models.CharField(_("version"), max_length=40, unique=True)
    text_eu = models.TextField(_("text (Basque)"))
    text_es = models.TextField(_("text (Spanish)"))
    text_en = models.TextField(_("text (English)"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")

    def __str__(self) -> str:
        return self.version

    def text_for(self, language: str) -> str:
        return {"es": self.text_es, "en": self.text_en}.get(language[:2], self.text_eu)


class Participant(models.Model):
    class BasqueLevel(models.TextChoices):
        A = "A1-A2", _("A1–A2 (beginner)")
        B = "B1-B2", _("B1–B2 (intermediate)")
        C = "C1-C2", _("C1–C2 (advanced)")
        NATIVE = "native", _("Native speaker")

    class Education(models.TextChoices):
        PRIMARY = "primary", _("Primary")
        SECONDARY = "secondary", _("Secondary")
        VOCATIONAL = "vocational", _("Vocational training")
        UNIVERSITY = "university", _("University degree")
        POSTGRADUATE = "postgraduate", _("Postgraduate")

    class AgeBand(models.TextChoices):
        U18 = "14-17", "14–17"
        A18 = "18-29", "18–29"
        A30 = "30-44", "30–44"
        A45 = "45-59", "45–59"
        A60 = "60+", "60+"

    class DialectArea(models.TextChoices):
        BIZKAIA = "bizkaiera", _("Western (Biscayan)")
        GIPUZKOA = "gipuzkera", _("Central (Gipuzkoan)")
        NAFARROA = "nafarrera", _("Navarrese")
        LAPURDI = "lapurtera", _("Navarrese-Lapurdian")
        ZUBEROA = "zuberera", _("Souletin")
        BATUA = "batua", _("Standard Basque only")

    # Unguessable, stable id: used for anonymised exports, survives account deletion.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="participant"
    )
    basque_level = models.CharField(_("Basque level"), max_length=10, choices=BasqueLevel.choices)
    education = models.CharField(_("education"), max_length=20, choices=Education.choices)
    dialect_area = models.CharField(_("dialect area"), max_length=20, choices=DialectArea.choices, blank=True)
    age_band = models.CharField(_("age band"), max_length=10, choices=AgeBand.choices, blank=True)
    consent_version = models.CharField(_("consent version"), max_length=40)
    consented_at = models.DateTimeField(_("consented at"))
    ui_language = models.CharField(_("interface language"), max_length=8, default="eu")
    # The contributors' board shows only those who opt in, under a nickname (never the username).
    nickname = models.CharField(_("public nickname"), max_length=40, blank=True)
    show_on_board = models.BooleanField(_("show me on the contributors' board"), default=False)
    # Set by a moderator (ModerationAction keeps who and why): no new battles while set.
    banned_at = models.DateTimeField(_("banned at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["nickname"], condition=~models.Q(nickname=""), name="participant_nickname_unique"),
        ]

    def __str__(self) -> str:
        return f"participant {self.public_id}"
