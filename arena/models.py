"""Arena data: participants, battles, their messages and the votes on them."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from arena.vocabulary import Choice, OverallChoice, Side


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
    created_at = models.DateTimeField(auto_now_add=True)

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
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")

    def __str__(self) -> str:
        return f"participant {self.public_id}"


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["turn", "role", "side"]
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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the quality checks ran on it. Unset: its check was lost (the broker was down when it was
    # queued); the beat task ``arena.check_pending_votes`` catches up.
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
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


class ExportJob(models.Model):
    """A Researchers-page export too big to stream in the request (more than
    ``ARENA["EXPORT_INLINE_MAX_VOTES"]`` matching votes): a Celery task (``arena.tasks.run_export``)
    writes the zip to ``DATA_DIR/exports/<file_name>``; only the researcher who asked may download it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being prepared")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # in URLs: unguessable
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    options = models.JSONField()  # ExportOptions.describe(); the task validates it again with ExportForm
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    matching_votes = models.PositiveIntegerField(default=0)  # when asked (the run is its own snapshot)
    votes_done = models.PositiveIntegerField(default=0)  # progress while running
    file_name = models.CharField(max_length=200, blank=True)  # unique name under DATA_DIR/exports
    download_name = models.CharField(max_length=200, blank=True)  # what the browser saves it as
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The building process's last sign of life (every few seconds while running): a job whose
    # worker died is failed by ``services.fail_stale_exports`` instead of "being prepared" for ever.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.id} ({self.status})"

    @staticmethod
    def folder():
        return settings.DATA_DIR / "exports"

    @property
    def path(self):
        return self.folder() / self.file_name if self.file_name else None

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


def _export_job_deleted(sender, instance, **kwargs):
    """An export's row goes (its researcher's account was removed): its file goes too."""
    if instance.path is not None:
        instance.path.unlink(missing_ok=True)


models.signals.post_delete.connect(_export_job_deleted, sender=ExportJob, dispatch_uid="arena.export_job_deleted")


class AnswerStyle(models.Model):
    """Style features of one answer (arena/style.py), stored when the answer is saved, for the
    style-controlled leaderboard. ``battle`` and ``side`` copy the message's, so the leaderboard sums a
    side's features over its turns without reading the messages' text."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="style")
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=1)
    tokens = models.PositiveIntegerField(default=0)
    headers = models.PositiveIntegerField(default=0)
    list_items = models.PositiveIntegerField(default=0)
    bold = models.PositiveIntegerField(default=0)
    basque_chars = models.PositiveIntegerField(default=0)  # letters in sentences detected as Basque
    language_chars = models.PositiveIntegerField(default=0)  # letters in sentences whose language was detected

    class Meta:
        verbose_name = _("answer style")
        verbose_name_plural = _("answer styles")


class Category(models.Model):
    """A topic a prompt can be about, found by keyword rules an admin edits (arena/categories.py)."""

    slug = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    keywords = models.TextField(
        _("keywords"), blank=True,
        help_text=_("One Basque keyword or word start per line, e.g. 'programa' also matches 'programazioa'. "
                    "Case and accents are ignored."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("prompt category")
        verbose_name_plural = _("prompt categories")

    def __str__(self) -> str:
        return self.name


class PromptLabel(models.Model):
    """The labels of a battle's first prompt: its language and its categories (arena/categories.py)."""

    battle = models.OneToOneField(Battle, on_delete=models.CASCADE, primary_key=True, related_name="prompt_label")
    language = models.CharField(_("prompt language"), max_length=8, blank=True)  # ISO 639-1; "" undetected
    categories = models.ManyToManyField(Category, blank=True, related_name="labels")
    labelled_at = models.DateTimeField(auto_now=True)
    # MinHash of the prompt's word 3-grams (arena/duplicates.py), and how many voted battles share this
    # prompt or a near-duplicate of it (1: unique). Set by services.labels.reweight_duplicates.
    signature = models.BinaryField(default=b"", blank=True)
    duplicates = models.PositiveIntegerField(_("near-duplicate prompts"), default=1)

    class Meta:
        verbose_name = _("prompt label")
        verbose_name_plural = _("prompt labels")
