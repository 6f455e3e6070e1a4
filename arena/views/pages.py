from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _

from arena import campaigns, contributors, selectors
from arena.models import ArenaConfig, Campaign
from arena.nicknames import BoardProfileForm
from arena.services import contributors as contributor_services
from arena.services.errors import ArenaError


def home(request):
    return render(request, "arena/home.html", {"participant": selectors.participant_for(request.user)})


@login_required
def contributions(request):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return redirect("arena:signup")
    form = BoardProfileForm(request.POST or None, participant=participant)
    if request.method == "POST" and form.is_valid():
        try:
            contributor_services.set_board_profile(participant=participant, **form.cleaned_data)
        except ArenaError as error:
            form.add_error("nickname", str(error.message))
        else:
            messages.success(request, _("Your board settings were saved."))
            return redirect("arena:contributions")
    campaign = campaigns.running_campaign()
    return render(request, "arena/contributions.html", {
        "counts": selectors.contribution_counts(participant),
        "mine": contributors.contributions(participant, campaign),
        "campaign_title": campaign.title_for(translation.get_language() or "eu") if campaign else "",
        "participant": participant,
        "board_form": form,
    }, status=400 if form.errors else 200)


def campaign_page(request, slug: str | None = None):
    """A campaign's description, reward rule and progress: the running one, or the one named."""
    if slug is None:
        campaign = campaigns.running_campaign()
    else:
        campaign = Campaign.objects.filter(slug=slug).first()
        if campaign is None:
            raise Http404
    language = translation.get_language() or "eu"
    running = campaign is not None and campaign == campaigns.running_campaign()
    return render(request, "arena/campaign.html", {
        "campaign": campaign,
        "title": campaign.title_for(language) if campaign else "",
        "description": campaign.description_for(language) if campaign else "",
        "reward": campaign.reward_for(language) if campaign else "",
        "running": running,  # the progress block (live) shows the running campaign; others get numbers
        "progress": campaigns.campaign_progress(campaign) if campaign and not running else None,
        "state": campaigns.campaign_state() if campaign is None else None,
    })


def contributors_board(request):
    """Opted-in nicknames ranked by valid votes: in the running campaign, and all time."""
    campaign = campaigns.running_campaign()
    return render(request, "arena/contributors.html", {
        "campaign": campaign,
        "campaign_title": campaign.title_for(translation.get_language() or "eu") if campaign else "",
        "campaign_board": contributors.board(campaign) if campaign else [],
        "all_time_board": contributors.board(None),
    })


def about(request):
    return render(request, "arena/about.html")


def faq(request):
    return render(request, "arena/faq.html", {"minimum_age": ArenaConfig.current().minimum_age})


def privacy(request):
    return render(request, "arena/privacy.html", {
        "consent": selectors.active_consent(), "contact_email": settings.ARENA["CONTACT_EMAIL"],
    })


def contact(request):
    return render(request, "arena/contact.html", {"contact_email": settings.ARENA["CONTACT_EMAIL"]})
