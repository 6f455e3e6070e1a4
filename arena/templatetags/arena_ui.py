"""Template helpers for the site's frame (base.html)."""
from django import template
from django.conf import settings

register = template.Library()

# Each language named in itself: Django's LANG_INFO calls Basque "Basque" even in Basque.
ENDONYMS = {"eu": "Euskara", "es": "Español", "en": "English"}


@register.simple_tag
def language_choices() -> list[tuple[str, str]]:
    """(code, endonym) for every language the site offers, in settings order."""
    return [(code, ENDONYMS[code]) for code, _name in settings.LANGUAGES]


@register.filter
def consent_text(consent, language: str) -> str:
    """The consent text in ``language`` (Basque when there is none in it)."""
    return consent.text_for(language or "eu")


@register.filter
def described(field):
    """The field's widget, pointing screen readers at its error and help text (shown beside it)."""
    ids = []
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    attrs = {"aria-describedby": " ".join(ids)} if ids else {}
    return field.as_widget(attrs=attrs)


# Where the percent sign goes: before the number in Basque ("%100,0"), after it with a space in
# Spanish ("100,0 %", as the RAE writes it), after it in English ("100.0%").
PERCENT_PATTERNS = {"eu": "%{}", "es": "{}\u00a0%", "en": "{}%"}


@register.filter
def percent(value, decimals: int = 0) -> str:
    """``value`` (already in percent) with the page language's decimal mark and percent sign."""
    from django.utils import formats, translation

    if value is None or value == "":
        return ""
    number = formats.number_format(value, decimal_pos=int(decimals), use_l10n=True)
    language = (translation.get_language() or "eu")[:2]
    return PERCENT_PATTERNS.get(language, "{}%").format(number)
