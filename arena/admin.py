"""Admin pages: settings, consent texts, participants, battles, and votes with their judged conversations."""
import json

from django.contrib import admin
from django.shortcuts import redirect
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from arena import quality, selectors, tasks
from arena.models import AnswerStyle, ArenaConfig, Battle, Category, ConsentText, Message, Participant, Vote
from arena.vocabulary import ExclusionReason, Side
from arena import admin_campaigns  # noqa: F401  (registers the campaign admin)


@admin.register(ArenaConfig)
class ArenaConfigAdmin(admin.ModelAdmin):
    list_display = ("__str__", "minimum_age", "sampling_mode", "boosted_model", "daily_vote_cap")

    def has_add_permission(self, request):
        return not ArenaConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        """One row of settings: open it, not a list of one (or the form to create it)."""
        config = ArenaConfig.objects.order_by("pk").first()
        if config is not None:
            return redirect("admin:arena_arenaconfig_change", config.pk)
        return redirect("admin:arena_arenaconfig_add")

    def save_model(self, request, obj, form, change):
        obj.pk = ArenaConfig.SINGLETON_PK  # the one row ArenaConfig.current() reads
        super().save_model(request, obj, form, change)


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

    def has_add_permission(self, request):
        return False  # participants sign up themselves, accepting the consent text; never added by hand


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


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "model_a", "model_b", "overall", "content", "language", "basque_level", "excluded",
                    "exclusion_reasons", "created_at")
    list_filter = ("excluded", "overall", "basque_level", "education", "model_a", "model_b")
    readonly_fields = ("battle", "participant", "model_a", "model_b", "content", "language", "overall",
                       "basque_level", "education", "excluded", "exclusion_reasons", "created_at",
                       "conversation_a", "conversation_b")
    actions = ["recheck_quality", "exclude_manually", "include_manually"]

    # The conversations exactly as judged (and as exported), for checking a flagged vote.
    @admin.display(description=_("Model A"))
    def conversation_a(self, obj):
        return self._conversation(obj, Side.A)

    @admin.display(description=_("Model B"))
    def conversation_b(self, obj):
        return self._conversation(obj, Side.B)

    def _conversation(self, vote, side: str):
        if not hasattr(vote, "_judged_conversations"):
            vote._judged_conversations = selectors.judged_conversations(vote)
        return format_html("<pre>{}</pre>", json.dumps(vote._judged_conversations[side], ensure_ascii=False, indent=2))

    @admin.action(description=_("Re-run the vote-quality checks"))
    def recheck_quality(self, request, queryset):
        tasks.recheck_votes.delay(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("Quality checks queued for %(n)d votes.") % {"n": queryset.count()})

    @admin.action(description=_("Exclude from rankings (manual)"))
    def exclude_manually(self, request, queryset):
        self._set_manual(queryset, True)

    @admin.action(description=_("Remove the manual exclusion"))
    def include_manually(self, request, queryset):
        self._set_manual(queryset, False)

    def _set_manual(self, queryset, present: bool):
        # The automatic checks own their reason codes and keep the manual one untouched.
        quality.set_reason(list(queryset.values_list("pk", flat=True)), ExclusionReason.MANUAL, present)
        tasks.votes_changed()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # excluded votes are kept and reported, never deleted


@admin.register(AnswerStyle)
class AnswerStyleAdmin(admin.ModelAdmin):
    """Read-only: features are computed from the answer when it is saved (arena/style.py)."""

    list_display = ("message_id", "battle_id", "side", "tokens", "headers", "list_items", "bold", "basque_chars",
                    "language_chars")
    list_filter = ("side",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """Keyword rules for prompt topics; after editing them, relabel the stored prompts (a task)."""

    list_display = ("name", "slug", "is_active")
    list_editable = ("is_active",)
    actions = ["relabel_prompts"]

    @admin.action(description=_("Relabel every voted prompt with the current rules"))
    def relabel_prompts(self, request, queryset):
        tasks.relabel_prompts.delay()
        self.message_user(request, _("Relabelling was queued."))


from arena import admin_moderation  # noqa: E402,F401  (after the admins above: it extends the battle and participant ones)
