import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from arena import selectors, services, tasks
from arena.forms import VoteForm
from arena.models import Reaction

logger = logging.getLogger(__name__)

# Example prompts a newcomer can click: Basque text whatever the page's language (the arena is about Basque).
EXAMPLE_PROMPTS = [
    (gettext_lazy("Everyday"), "Zer egin dezaket Donostian, euria ari duen igande arratsalde batean?"),
    (gettext_lazy("Culture"), "Azaldu labur zer den bertsolaritza eta nola antolatzen den txapelketa bat."),
    (gettext_lazy("Writing"), "Idatzi lagun bati bidaltzeko mezu labur bat, bere urtebetetzea zoriontzeko."),
    (gettext_lazy("Explanation"), "Azaldu, haur batek ulertzeko moduan, zergatik den urdina zerua."),
]


def battle_strings() -> dict:
    """The texts battle.js shows, in the page's language."""
    choices = {"A": _("A is better"), "tie": _("Tie"), "B": _("B is better"), "both_bad": _("Both are bad")}
    return {
        "connecting": _("Connecting…"),
        "ready": _("Write a message to start. Two anonymous models will answer."),
        "answering": _("The models are answering…"),
        "voteNow": _("Both answers are complete. Vote, or keep the conversation going."),
        "stoppedVoteNow": _("You stopped the answers. Vote, or keep the conversation going."),
        "stoppedEmpty": _("(stopped before answering)"),
        "noAnswer": _("(no answer)"),
        "disconnected": _("Connection lost. Reload the page to continue."),
        "signedOut": _("You are no longer logged in. Log in again to continue."),
        "thanks": _("Thank you for your vote!"),
        "answerAll": _("Answer all three questions."),
        "suggestion": _("Suggestion, as your two answers agree: %s."),
        "yourChoice": _("Your vote:"),
        # The dimensions' one name everywhere (arena/vocabulary.py: leaderboard, exports).
        "questions": {"content": _("Content"), "language": _("Basque quality"), "overall": _("Overall")},
        "choices": choices,
        "privacyWarning": _("Your message seems to contain personal data. Edit it, or send it anyway if it is not "
                            "real or not yours. What it seems to contain:"),
        "privacyKinds": {
            "email": _("an e-mail address"), "phone": _("a phone number"), "id_number": _("an ID number"),
            "iban": _("a bank account number (IBAN)"), "address": _("a postal address"),
        },
        # Optional reactions to one answer (arena/services/reactions.py) and the reveal's headings.
        "reactions": {kind: str(label) for kind, label in Reaction.Kind.choices},
        "reactionsLabel": _("React to this answer (optional)"),
        "figuresTitle": _("Measured on its answers here"),
        "leaderboardLink": _("See it on the leaderboard"),
    }


@login_required
def battle_page(request):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return redirect("arena:signup")
    return render(request, "arena/battle.html", {
        "prompt_max_chars": settings.ARENA["PROMPT_MAX_CHARS"],
        "examples": [{"category": category, "prompt": prompt} for category, prompt in EXAMPLE_PROMPTS],
        "strings": battle_strings(),
        "banned": participant.banned_at is not None,
    })


@require_POST
def vote(request, battle_id):
    """Store the vote, then (and only then) reveal who A and B were. The battle socket's ``vote`` frame
    (arena/vote_batching.py) is the fast path; this is the page's fallback, with the same answers."""
    participant = selectors.participant_for(request.user)
    if participant is None:
        return JsonResponse({"error": "login_required", "message": _("Log in to vote.")}, status=403)
    form = VoteForm(request.POST)
    if not form.is_valid():
        return JsonResponse(
            {"error": "invalid_vote", "message": _("Answer all three questions."), "fields": form.errors},
            status=400,
        )
    board_state = selectors.published_board_state()  # the board before this vote (a refresh may follow it)
    ballot = services.Ballot(battle_id=battle_id, participant_id=participant.pk, **form.cleaned_data)
    try:
        # Quality checks and the leaderboard refresh run once the vote is really stored.
        (result,) = services.cast_votes(ballots=[ballot], after_commit=lambda ids: tasks.vote_stored(ids[0]))
    except (OperationalError, InterfaceError):
        # The database went away mid-vote: the transaction stored all of it or nothing, so a retry is safe.
        logger.warning("vote on battle %s not stored: database unavailable", battle_id, exc_info=True)
        return JsonResponse({"error": "retry", "message": _("Your vote could not be stored just now. Try again.")},
                            status=503)
    if result.error is not None:  # a repeat with the same answers (its answer was lost on the way) is no error
        status = {"not_found": 404, "not_yours": 403, "account_gone": 403}.get(result.error.code, 409)
        return JsonResponse({"error": result.error.code, "message": str(result.error.message)}, status=status)
    (reveal,) = selectors.reveals([(result.vote.battle, ballot.overall)], board_state=board_state)
    return JsonResponse({"status": "voted", "reveal": reveal})
