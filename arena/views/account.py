import json

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from arena import selectors, services
from arena.forms import DeleteAccountForm, SignupForm
from arena.models import ArenaConfig


def signup(request):
    consent = selectors.active_consent()
    config = ArenaConfig.current()
    if consent is None:
        return render(request, "arena/signup_closed.html", status=503)
    form = SignupForm(request.POST or None, minimum_age=config.minimum_age)
    if request.method == "POST" and form.is_valid():
        participant = services.register_participant(
            username=form.cleaned_data["username"], email=form.cleaned_data.get("email", ""),
            password=form.cleaned_data["password1"], profile=form.profile(), consent=consent,
            language=translation.get_language() or "eu",
        )
        login(request, participant.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("arena:battle")
    return render(request, "registration/signup.html", {
        "form": form, "consent_text": consent.text_for(translation.get_language() or "eu"),
        "consent_version": consent.version,
    })


@login_required
def my_data(request):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return redirect("arena:signup")
    return render(request, "arena/my_data.html", {
        "participant": participant, "counts": selectors.contribution_counts(participant),
        "delete_form": DeleteAccountForm(),
    })


@login_required
def download_my_data(request):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return redirect("arena:signup")
    body = json.dumps(selectors.participant_data(participant), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="my-arena-data.json"'
    return response


@login_required
@require_POST
def delete_account(request):
    participant = selectors.participant_for(request.user)
    form = DeleteAccountForm(request.POST)
    if participant is None or not form.is_valid():
        messages.error(request, _("Tick the box to confirm that you want to delete your account."))
        return redirect("arena:my_data")
    services.delete_participant(participant=participant)
    logout(request)
    messages.success(request, _("Your account and personal data were deleted. Your votes remain, anonymised."))
    return redirect("arena:home")
