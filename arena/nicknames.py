"""Public nicknames for the contributors' board: what a nickname may be, and the form that sets it.

Letters (any alphabet), digits, ``_``, ``-`` and ``.``, 3 to 40 characters; not taken (ignoring case);
not the volunteer's username (the board never shows usernames); nothing offensive or official-looking.
The word lists are short on purpose: they catch the obvious cases, and a moderator handles the rest.
"""
from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from arena.models import Participant

NICKNAME_PATTERN = re.compile(r"[\w.-]{3,40}")
MIN_LENGTH, MAX_LENGTH = 3, 40

# Refused anywhere in the nickname (after undoing common letter swaps): roots with no innocent use.
OFFENSIVE_ROOTS = ("fuck", "cunt", "nigger", "faggot", "hitler", "gilipoll", "maricon", "hijoputa", "hijodeputa",
                   "putakume", "motherfuck", "asshole")
# Refused as a whole word of the nickname (they hide inside innocent words, e.g. "computo", "nazioa").
OFFENSIVE_WORDS = {"puta", "puto", "putas", "mierda", "shit", "bitch", "whore", "nazi", "cabron", "zorra", "polla",
                   "kaka", "coño", "cono", "pene", "sex", "porn", "porno", "idiot", "idiota", "tonto", "ergel"}
# Would look like the team speaking.
RESERVED_WORDS = {"admin", "administrator", "administrador", "administratzailea", "moderator", "moderador",
                  "moderatzailea", "staff", "root", "support", "soporte", "laguntza", "arena", "official", "ofiziala"}
_SWAPS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


def _words(nickname: str) -> list[str]:
    return [word for word in re.split(r"[._\-\d]+", nickname.casefold()) if word]


def nickname_problem(nickname: str):
    """The reason a nickname is refused (translated, lazily), or None; uniqueness is checked apart."""
    if not MIN_LENGTH <= len(nickname) <= MAX_LENGTH or not NICKNAME_PATTERN.fullmatch(nickname):
        return _("Use 3 to 40 letters, digits, or the signs _ - . (no spaces).")
    squeezed = re.sub(r"[._\-]", "", nickname.casefold().translate(_SWAPS))
    words = set(_words(nickname)) | set(_words(nickname.translate(_SWAPS)))
    if any(root in squeezed for root in OFFENSIVE_ROOTS) or words & OFFENSIVE_WORDS:
        return _("This nickname is not appropriate. Choose another one.")
    if words & RESERVED_WORDS or squeezed in RESERVED_WORDS:
        return _("This nickname is reserved. Choose another one.")
    return None


def nickname_taken(nickname: str, participant: Participant) -> bool:
    return Participant.objects.filter(nickname__iexact=nickname).exclude(pk=participant.pk).exists()


class BoardProfileForm(forms.Form):
    """The volunteer's public nickname and whether they appear on the contributors' board."""

    nickname = forms.CharField(
        label=_("Public nickname"), required=False, max_length=MAX_LENGTH, strip=True,
        help_text=_("3 to 40 letters, digits, or the signs _ - . Shown on the contributors' board instead of your "
                    "username, which is never shown."),
    )
    show_on_board = forms.BooleanField(label=_("Show me on the contributors' board"), required=False)

    def __init__(self, *args, participant: Participant, **kwargs):
        self.participant = participant
        kwargs.setdefault("initial", {"nickname": participant.nickname, "show_on_board": participant.show_on_board})
        super().__init__(*args, **kwargs)

    def clean_nickname(self) -> str:
        nickname = self.cleaned_data.get("nickname", "")
        if not nickname:
            return ""
        problem = nickname_problem(nickname)
        if problem is not None:
            raise ValidationError(problem, code="invalid")
        user = self.participant.user
        if user is not None and nickname.casefold() == user.username.casefold():
            raise ValidationError(_("Choose a nickname different from your username: usernames are never shown."),
                                  code="username")
        if nickname_taken(nickname, self.participant):
            raise ValidationError(_("This nickname is already taken. Choose another one."), code="taken")
        return nickname

    def clean(self):
        data = super().clean()
        if data.get("show_on_board") and not data.get("nickname") and "nickname" not in self.errors:
            self.add_error("nickname", _("Choose a nickname to appear on the board."))
        return data
