from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from arena.models import ArenaConfig, Battle, ConsentText, Message, Participant, Vote, VoteTranscript


@admin.register(ArenaConfig)
class ArenaConfigAdmin(admin.ModelAdmin):
    list_display = ("__str__", "minimum_age", "sampling_mode", "boosted_model", "daily_vote_cap")

    def has_add_permission(self, request):
        return not ArenaConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    list_display = ("version", "is_active", "created_at")
    list_filter = ("is_active",)


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("public_id", "user", "basque_level", "education", "consent_version", "created_at", "deleted_at")
    list_filter = ("basque_level", "education", "consent_version")
    readonly_fields = ("public_id", "consented_at", "consent_version", "deleted_at")
    search_fields = ("user__username", "public_id")


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    readonly_fields = ("turn", "role", "side", "content", "finish_reason", "error", "token_count", "ttft_ms", "duration_ms")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "model_a", "model_b", "created_at")
    list_filter = ("status", "model_a", "model_b")
    readonly_fields = ("participant", "model_a", "model_b", "status", "snapshot_a", "snapshot_b", "failure_reason", "created_at")
    inlines = [MessageInline]


class VoteTranscriptInline(admin.StackedInline):
    """The conversations exactly as judged (and as exported), for checking a flagged vote."""

    model = VoteTranscript
    readonly_fields = ("side_a", "side_b")
    can_delete = False
    extra = max_num = 0


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    inlines = [VoteTranscriptInline]
    list_display = ("battle", "model_a", "model_b", "overall", "content", "language", "basque_level", "excluded",
                    "exclusion_reasons", "created_at")
    list_filter = ("excluded", "overall", "basque_level", "education", "model_a", "model_b")
    readonly_fields = ("battle", "participant", "model_a", "model_b", "content", "language", "overall",
                       "basque_level", "education", "excluded", "exclusion_reasons", "created_at")
    actions = ["recheck_quality", "exclude_manually", "include_manually"]

    @admin.action(description=_("Re-run the vote-quality checks"))
    def recheck_quality(self, request, queryset):
        from arena.tasks import recheck_votes

        recheck_votes.delay(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("Quality checks queued for %(n)d votes.") % {"n": queryset.count()})

    @admin.action(description=_("Exclude from rankings (manual)"))
    def exclude_manually(self, request, queryset):
        self._set_manual(queryset, True)

    @admin.action(description=_("Remove the manual exclusion"))
    def include_manually(self, request, queryset):
        self._set_manual(queryset, False)

    def _set_manual(self, queryset, present: bool):
        # The automatic checks own their reason codes and keep "manual" untouched.
        from arena.quality import set_reason
        from arena.ranking import mark_stale

        set_reason(list(queryset.values_list("pk", flat=True)), "manual", present)
        mark_stale()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # excluded votes are kept and reported, never deleted
