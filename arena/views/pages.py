from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from arena import selectors
from arena.models import ArenaConfig


def home(request):
    return render(request, "arena/home.html", {"participant": selectors.participant_for(request.user)})


@login_required
def contributions(request):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return redirect("arena:signup")
    return render(request, "arena/contributions.html", {"counts": selectors.contribution_counts(participant)})


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
