"""The running campaign's progress block, shared by the home, battle and campaign pages: it reads
what it shows itself, so the pages' views stay as they were."""
from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.translation import gettext, ngettext

from arena import campaigns

register = template.Library()

# Days left are shown only for campaigns ending within this many days (the default campaign ends in 2100).
SHOW_DAYS_LEFT_UNDER = 366


def progress_strings() -> dict:
    """Sentences for static/arena/progress.js, in the page's language (the same msgids as below)."""
    return {
        "votesOfTarget": gettext("%(votes)s valid votes of the %(target)s this campaign aims for."),
        "votes": gettext("%(votes)s valid votes so far."),
        "dayLeft": ngettext("%(days)s day left.", "%(days)s days left.", 1),
        "daysLeft": ngettext("%(days)s day left.", "%(days)s days left.", 2),
        "modelVotes": gettext("%(votes)s of %(target)s valid votes"),
    }


def votes_sentence(votes: int, target: int) -> str:
    if target > 0:
        return progress_strings()["votesOfTarget"] % {"votes": votes, "target": target}
    return progress_strings()["votes"] % {"votes": votes}


@register.inclusion_tag("arena/_campaign_progress.html")
def campaign_progress(models: bool = False, heading_level: int = 2):
    """The running campaign's valid votes against its target (live: progress.js), with each listed
    model's when ``models``; or, while no campaign runs, when the next one starts."""
    state = campaigns.campaign_state()
    context = {"state": state, "heading": f"h{heading_level}", "strings": progress_strings(), "show_models": models}
    if state.campaign is None:
        return context
    language = translation.get_language() or "eu"
    progress = campaigns.campaign_progress(state.campaign)
    days = progress.days_left
    context.update({
        "campaign": state.campaign, "progress": progress, "title": state.campaign.title_for(language),
        "votes_text": votes_sentence(progress.votes, progress.target),
        "days_text": (ngettext("%(days)s day left.", "%(days)s days left.", days) % {"days": days}
                      if days < SHOW_DAYS_LEFT_UNDER else ""),
        "model_rows": [{"row": m, "text": progress_strings()["modelVotes"] % {"votes": m.votes, "target": m.target}}
                       for m in progress.models if m.target > 0] if models else [],
    })
    return context
