"""Export options: one validated form shared by the Researchers page and ``manage.py export_votes``."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from arena.models import Campaign, Participant
from arena.vocabulary import Dimension
from models_serving.models import ServedModel

FORMATS = ("ebaluatoia", "lmsys", "dpo")
FILE_TYPES = ("jsonl.gz", "jsonl", "parquet", "hf")
ALL_DIMENSIONS = "all"  # dpo: one row per decided dimension
DIMENSIONS = (*Dimension.values, ALL_DIMENSIONS)

FORMAT_CHOICES = [
    ("ebaluatoia", _("ebaluatoia: the original study's public columns")),
    ("lmsys", _("lmsys: Chatbot Arena conversations")),
    ("dpo", _("dpo: prompt / chosen / rejected pairs")),
]
FILE_TYPE_CHOICES = [
    ("jsonl.gz", _("JSON Lines, gzip-compressed")),
    ("jsonl", _("JSON Lines")),
    ("parquet", _("Parquet")),
    ("hf", _("Hugging Face datasets folder (save_to_disk)")),
]
DIMENSION_CHOICES = [
    *Dimension.choices,
    (ALL_DIMENSIONS, _("All three (dpo only: one row per decided dimension)")),
]
MODELS_MATCH_CHOICES = [
    ("any", _("Battles with at least one selected model")),
    ("both", _("Battles between two selected models")),
]


@dataclass(frozen=True)
class ExportOptions:
    """What to export. Built only through ``ExportForm`` so every entry point validates the same way."""

    format: str = "ebaluatoia"
    file_type: str = "jsonl.gz"
    dimension: str = Dimension.OVERALL.value
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    models: tuple[str, ...] = ()
    models_match: str = "any"
    basque_levels: tuple[str, ...] = ()
    educations: tuple[str, ...] = ()
    include_flagged: bool = False
    # Conversations whose prompts seemed to contain personal data (Battle.privacy_flags) are left out
    # unless asked; those a moderator hid (Battle.hidden) are never exported.
    include_personal_data: bool = False
    campaign: str = ""  # a Campaign slug: only the votes cast in it ("" = every vote)

    def describe(self) -> dict:
        """The filters as plain JSON values, for the manifest and the dataset card."""
        data = asdict(self)
        for key in ("date_from", "date_to"):
            data[key] = data[key].isoformat() if data[key] else None
        for key in ("models", "basque_levels", "educations"):
            data[key] = list(data[key])
        return data

    @property
    def stem(self) -> str:
        """File name stem, e.g. ``basque-arena-dpo-overall``."""
        dimension = "" if self.format == "ebaluatoia" else f"-{self.dimension}"
        return f"basque-arena-{self.format}{dimension}"


class ExportForm(forms.Form):
    format = forms.ChoiceField(label=_("Format"), choices=FORMAT_CHOICES, initial="ebaluatoia")
    file_type = forms.ChoiceField(label=_("File type"), choices=FILE_TYPE_CHOICES, initial="jsonl.gz", required=False)
    dimension = forms.ChoiceField(
        label=_("Dimension"), choices=DIMENSION_CHOICES, initial=Dimension.OVERALL.value, required=False,
        help_text=_("ebaluatoia always carries the three winners; lmsys needs one dimension."),
    )
    date_from = forms.DateField(label=_("From (UTC, inclusive)"), required=False)
    date_to = forms.DateField(label=_("To (UTC, inclusive)"), required=False)
    models = forms.MultipleChoiceField(
        label=_("Models"), required=False, error_messages={"invalid_choice": _("Unknown model: %(value)s.")},
    )
    models_match = forms.ChoiceField(label=_("Model filter"), choices=MODELS_MATCH_CHOICES, initial="any", required=False)
    basque_levels = forms.MultipleChoiceField(
        label=_("Basque level"), choices=Participant.BasqueLevel.choices, required=False,
        error_messages={"invalid_choice": _("Unknown Basque level: %(value)s.")},
    )
    educations = forms.MultipleChoiceField(
        label=_("Education"), choices=Participant.Education.choices, required=False,
        error_messages={"invalid_choice": _("Unknown education level: %(value)s.")},
    )
    include_flagged = forms.BooleanField(label=_("Include flagged votes"), required=False)
    include_personal_data = forms.BooleanField(
        label=_("Include conversations flagged for personal data"), required=False,
        help_text=_("Prompts that seemed to contain an e-mail address, phone number, ID number, IBAN or postal "
                    "address. Conversations hidden by a moderator are never exported."),
    )
    campaign = forms.ChoiceField(label=_("Campaign"), required=False,
                                 error_messages={"invalid_choice": _("Unknown campaign: %(value)s.")})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any registered model (also retired ones): researchers export history, not the live roster.
        names = ServedModel.objects.order_by("public_name").values_list("public_name", flat=True)
        self.fields["models"].choices = [(name, name) for name in names]
        self.fields["campaign"].choices = [("", _("All campaigns")),
                                           *Campaign.objects.order_by("-starts_at").values_list("slug", "title_eu")]
        # A bad value must name itself clearly ("Unknown format: x") rather than Django's generic message.
        self.fields["format"].error_messages["invalid_choice"] = _("Unknown format: %(value)s.")
        self.fields["file_type"].error_messages["invalid_choice"] = _("Unknown file type: %(value)s.")
        self.fields["dimension"].error_messages["invalid_choice"] = _("Unknown dimension: %(value)s.")

    def clean(self):
        data = super().clean()
        data["file_type"] = data.get("file_type") or "jsonl.gz"
        data["dimension"] = data.get("dimension") or Dimension.OVERALL.value
        data["models_match"] = data.get("models_match") or "any"
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date is before the start date."))
        if data.get("format") == "lmsys" and data["dimension"] == ALL_DIMENSIONS:
            self.add_error("dimension", _("lmsys has a single winner column: choose one dimension."))
        if data["models_match"] == "both" and len(data.get("models") or ()) < 2:
            self.add_error("models", _("Choose at least two models to export battles between them."))
        return data

    def to_options(self) -> ExportOptions:
        if not self.is_valid():
            raise ValueError("to_options() needs a valid form")
        data = self.cleaned_data
        return ExportOptions(
            format=data["format"],
            file_type=data["file_type"],
            dimension=data["dimension"],
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            models=tuple(sorted(data.get("models") or ())),
            models_match=data["models_match"],
            basque_levels=tuple(sorted(data.get("basque_levels") or ())),
            educations=tuple(sorted(data.get("educations") or ())),
            include_flagged=bool(data.get("include_flagged")),
            include_personal_data=bool(data.get("include_personal_data")),
            campaign=data.get("campaign") or "",
        )

    def error_dict(self) -> dict[str, list[str]]:
        """Errors as plain strings, e.g. for a JSON 400 response or a CommandError."""
        return {field: [str(message) for message in messages] for field, messages in self.errors.items()}
