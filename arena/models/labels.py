"""What the leaderboard knows about answers and prompts: style features, categories, labels."""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from arena.models.battles import Battle, Message, Vote


class AnswerStyle(models.Model):
    """Style features of one answer (arena/style.py), stored once its battle is voted
    (arena/services/styles.py), for the style-controlled leaderboard. ``battle`` and ``side`` copy the
    message's, so the leaderboard sums a side's features over its turns without reading the messages' text."""

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


class VoteStyle(models.Model):
    """Both sides' style features summed over their turns, one row per vote: what the style-controlled
    fit reads (arena/ranking/style_data.py). Written with the ``AnswerStyle`` rows it sums
    (arena/services/styles.py), so a million-vote fit reads one narrow row per vote instead of
    grouping two million answer rows."""

    vote = models.OneToOneField(Vote, on_delete=models.CASCADE, primary_key=True, related_name="style")
    tokens_a = models.PositiveIntegerField(default=0)
    headers_a = models.PositiveIntegerField(default=0)
    list_items_a = models.PositiveIntegerField(default=0)
    bold_a = models.PositiveIntegerField(default=0)
    basque_chars_a = models.PositiveIntegerField(default=0)
    language_chars_a = models.PositiveIntegerField(default=0)
    tokens_b = models.PositiveIntegerField(default=0)
    headers_b = models.PositiveIntegerField(default=0)
    list_items_b = models.PositiveIntegerField(default=0)
    bold_b = models.PositiveIntegerField(default=0)
    basque_chars_b = models.PositiveIntegerField(default=0)
    language_chars_b = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("vote style")
        verbose_name_plural = _("vote styles")


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
