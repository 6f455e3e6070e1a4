"""Admin for campaigns: dates, targets, the reward rule and the models taking part (inline).

A campaign with no models listed draws from every active, healthy model. Only one campaign runs at
a time (if periods overlap, the one that started last); see docs/campaigns.md.
"""
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena.models import Campaign, CampaignModel


class CampaignModelInline(admin.TabularInline):
    model = CampaignModel
    extra = 1
    fields = ("model", "vote_target")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("title_eu", "slug", "starts_at", "ends_at", "vote_target", "votes_per_raffle_entry", "is_running")
    search_fields = ("slug", "title_eu", "title_es", "title_en")
    prepopulated_fields = {"slug": ("title_eu",)}
    inlines = [CampaignModelInline]
    fieldsets = (
        (None, {"fields": ("slug", "starts_at", "ends_at", "vote_target")}),
        (_("Texts"), {"fields": ("title_eu", "title_es", "title_en", "description_eu", "description_es",
                                  "description_en")}),
        (_("Reward"), {"fields": ("votes_per_raffle_entry", "reward_eu", "reward_es", "reward_en")}),
    )

    @admin.display(boolean=True, description=_("running now"))
    def is_running(self, obj: Campaign) -> bool:
        return obj.starts_at <= timezone.now() < obj.ends_at
