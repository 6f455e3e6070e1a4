from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from arena.models import Participant
from arena.vocabulary import Choice, OverallChoice


class SignupForm(UserCreationForm):
    email = forms.EmailField(label=_("E-mail"), required=False,
                             help_text=_("Optional; only used to reset your password if you forget it."))
    # No preselected answer: a volunteer who skips the question must be asked, not counted as a beginner.
    basque_level = forms.ChoiceField(label=_("Your Basque level"),
                                     choices=[("", _("Choose…"))] + list(Participant.BasqueLevel.choices))
    education = forms.ChoiceField(label=_("Education"),
                                  choices=[("", _("Choose…"))] + list(Participant.Education.choices))
    dialect_area = forms.ChoiceField(
        label=_("Dialect area (optional)"), required=False,
        choices=[("", "—")] + list(Participant.DialectArea.choices),
    )
    age_band = forms.ChoiceField(
        label=_("Age (optional)"), required=False, choices=[("", "—")] + list(Participant.AgeBand.choices)
    )
    age_confirmed = forms.BooleanField(label="", required=True)
    consent = forms.BooleanField(label=_("I have read and accept the consent text above."), required=True)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, minimum_age: int, **kwargs):
        super().__init__(*args, **kwargs)
        # Django focuses the username: that would skip the consent text above the form for screen readers.
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["age_confirmed"].label = _("I am at least %(age)d years old.") % {"age": minimum_age}
        self.fields["age_confirmed"].error_messages["required"] = _(
            "You must be at least %(age)d years old to take part."
        ) % {"age": minimum_age}
        self.fields["consent"].error_messages["required"] = _("You must accept the consent text to take part.")

    def profile(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("basque_level", "education", "dialect_area", "age_band")}


class VoteForm(forms.Form):
    content = forms.ChoiceField(choices=Choice.choices)
    language = forms.ChoiceField(choices=Choice.choices)
    overall = forms.ChoiceField(choices=OverallChoice.choices)


class DeleteAccountForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, delete my account."), required=True)
