from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from arena import selectors


def home(request):
    return render(request, "arena/home.html", {"participant": selectors.participant_for(request.user)})


@login_required
def contributions(request):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return redirect("arena:signup")
    return render(request, "arena/contributions.html", {"counts": selectors.contribution_counts(participant)})
