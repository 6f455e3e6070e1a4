from django.contrib import admin

from arena.models import ArenaConfig, Battle, ConsentText, Message, Participant, Vote


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


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "overall", "content", "language", "basque_level", "excluded", "exclusion_reasons", "created_at")
    list_filter = ("excluded", "overall", "basque_level", "education")
    readonly_fields = ("battle", "participant", "content", "language", "overall", "basque_level", "education", "created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # excluded votes are kept and reported, never deleted
