"""Reactions to single answers of the volunteer's own battle (``POST /battle/<id>/react/`` toggles one;
``GET`` lists the volunteer's reactions there, for a page that resumes the battle). JSON in and out."""
from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from arena import selectors
from arena.services import reactions
from arena.services.errors import ArenaError

# A refusal's HTTP status: the request is wrong (400), the battle is not there for this volunteer (404:
# someone else's looks the same as none), too many toggles (429), the account cannot act (403).
STATUS = {"bad_kind": 400, "bad_answer": 400, "not_found": 404, "rate_limited": 429, "account_gone": 403}


@require_http_methods(["GET", "POST"])
def react(request, battle_id):
    participant = selectors.participant_for(request.user)
    if participant is None:
        return JsonResponse({"error": "login_required", "message": _("Log in to react to answers.")}, status=403)
    if request.method == "GET":
        mine = selectors.reactions_of(participant, battle_id)
        if mine is None:
            return JsonResponse({"error": "not_found", "message": _("This battle does not exist.")}, status=404)
        return JsonResponse({"reactions": mine})
    try:
        turn = int(request.POST.get("turn", ""))
    except ValueError:
        return JsonResponse({"error": "bad_answer", "message": _("There is no such answer in this conversation.")},
                            status=400)
    side, kind = request.POST.get("side", ""), request.POST.get("kind", "")
    try:
        active = reactions.toggle_reaction(participant=participant, battle_id=battle_id, turn=turn, side=side,
                                           kind=kind)
    except ArenaError as error:
        return JsonResponse({"error": error.code, "message": str(error.message)}, status=STATUS.get(error.code, 409))
    return JsonResponse({"turn": turn, "side": side, "kind": kind, "active": active})
