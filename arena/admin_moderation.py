"""Moderation in the admin: the battle list gains filters (personal data found, flagged, hidden) and
actions (flag, hide from exports / show again, ban the volunteer / lift the ban), the participant list
gains ban / unban; every action first asks for a reason on a confirmation page, then calls
arena/services/moderation.py, which logs it. The log (``ModerationAction``) is read-only here.

Imported once at the end of arena/admin.py: it extends the battle and participant admins registered
there (found through the admin site, not imported, so the two modules never import each other).
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from arena import privacy
from arena.models import Battle, ModerationAction, Participant
from arena.services import moderation
from arena.services.errors import ArenaError


BattleAdmin = type(admin.site.get_model_admin(Battle))  # arena/admin.py's, registered before this import
ParticipantAdmin = type(admin.site.get_model_admin(Participant))



def _ban_action(*, banned: bool, participants=lambda ids: list(ids)):
    """The ban (or unban) admin action; ``participants`` maps the selected rows' ids to participants'."""
    title = _("Ban the volunteer from new battles") if banned else _("Lift the ban")
    name = "ban" if banned else "unban"

    @admin.action(description=title)
    def action(modeladmin, request, queryset):
        return _confirm(modeladmin, request, queryset, action=name, title=title,
                        apply=lambda ids, reason: moderation.set_participants_banned(
                            participant_ids=participants(ids), banned=banned, moderator=request.user, reason=reason))

    action.__name__ = name
    return action


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text=_("Kept in the moderation log with your name."))


class PersonalDataFilter(admin.SimpleListFilter):
    title = _("personal data found")
    parameter_name = "personal_data"
    LABELS = {"email": _("e-mail address"), "phone": _("phone number"), "id_number": _("ID number"),
              "iban": _("bank account number (IBAN)"), "address": _("postal address")}

    def lookups(self, request, model_admin):
        return [("any", _("any")), ("none", _("none")), *((kind, self.LABELS[kind]) for kind in privacy.KINDS)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.exclude(privacy_flags=[])
        if value == "none":
            return queryset.filter(privacy_flags=[])
        if value in privacy.KINDS:
            # The kinds are stored as a JSON list of plain words: the quoted word is unambiguous.
            return queryset.filter(privacy_flags__icontains=f'"{value}"')
        return queryset


def _confirm(model_admin, request, queryset, *, action: str, title, apply):
    """The intermediate page: the selection and a required reason; on a valid POST, ``apply(ids, reason)``."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            changed = apply([obj.pk for obj in queryset], form.cleaned_data["reason"])
        except ArenaError as error:
            model_admin.message_user(request, str(error.message), messages.ERROR)
            return None
        model_admin.message_user(request, _("%(title)s: %(n)d changed, %(same)d already so.")
                                 % {"title": title, "n": changed, "same": queryset.count() - changed})
        return None  # back to the list
    context = {
        **model_admin.admin_site.each_context(request), "title": title, "form": form, "objects": list(queryset),
        "action": action, "opts": model_admin.model._meta, "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/arena/moderation_confirm.html", context)


class ModerationBattleAdmin(BattleAdmin):
    list_display = ("id", "status", "model_a", "model_b", "privacy_flags", "flagged", "hidden", "participant_banned",
                    "created_at")
    list_filter = (PersonalDataFilter, "flagged", "hidden", "status", "model_a", "model_b")
    # Changed only through the actions, so that every change is logged with a reason.
    readonly_fields = (*BattleAdmin.readonly_fields, "privacy_flags", "flagged", "hidden")
    actions = ("flag", "hide", "unhide", "ban", "unban")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("participant", "model_a", "model_b")

    @admin.display(description=_("volunteer banned"), boolean=True)
    def participant_banned(self, obj):
        return obj.participant.banned_at is not None

    @admin.action(description=_("Flag the conversation"))
    def flag(self, request, queryset):
        return _confirm(self, request, queryset, action="flag", title=_("Flag the conversation"),
                        apply=lambda ids, reason: moderation.flag_battles(
                            battle_ids=ids, moderator=request.user, reason=reason))

    @admin.action(description=_("Hide the conversation from exports"))
    def hide(self, request, queryset):
        return _confirm(self, request, queryset, action="hide", title=_("Hide the conversation from exports"),
                        apply=lambda ids, reason: moderation.set_battles_hidden(
                            battle_ids=ids, hidden=True, moderator=request.user, reason=reason))

    @admin.action(description=_("Show the conversation in exports again"))
    def unhide(self, request, queryset):
        return _confirm(self, request, queryset, action="unhide", title=_("Show the conversation in exports again"),
                        apply=lambda ids, reason: moderation.set_battles_hidden(
                            battle_ids=ids, hidden=False, moderator=request.user, reason=reason))

    ban = _ban_action(banned=True, participants=lambda ids: _participants_of(ids))
    unban = _ban_action(banned=False, participants=lambda ids: _participants_of(ids))


def _participants_of(battle_ids) -> list:
    return list(Battle.objects.filter(pk__in=battle_ids).values_list("participant_id", flat=True).distinct())


class ModerationParticipantAdmin(ParticipantAdmin):
    list_display = (*ParticipantAdmin.list_display, "banned_at")
    readonly_fields = (*ParticipantAdmin.readonly_fields, "banned_at")
    actions = ("ban", "unban")

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), ("banned_at", admin.EmptyFieldListFilter))

    ban = _ban_action(banned=True)
    unban = _ban_action(banned=False)


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The log: read-only, kept as written (actions are made from the battle and participant lists)."""

    list_display = ("created_at", "action", "battle", "participant", "moderator", "reason")
    list_filter = ("action",)
    search_fields = ("reason", "battle__id", "participant__public_id")
    list_select_related = ("battle", "participant", "moderator")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(Battle)
admin.site.register(Battle, ModerationBattleAdmin)
admin.site.unregister(Participant)
admin.site.register(Participant, ModerationParticipantAdmin)
