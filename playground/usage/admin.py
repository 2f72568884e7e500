from django.contrib import admin

from .models import Budget, BudgetAlert, UsageRecord


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("team", "user", "cost_limit", "audio_minutes_limit", "alert_percent", "updated_at")
    search_fields = ("team__name", "user__username")
    raw_id_fields = ("team", "user", "created_by")


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Records are summed from recordings: `manage.py usage_backfill --recompute` redoes them, rather than edits."""

    list_display = ("at", "user", "team", "upstream", "response_id", "input_tokens", "output_tokens", "cost")
    list_filter = ("upstream",)
    search_fields = ("user__username", "team__name", "response_id")
    date_hierarchy = "at"
    raw_id_fields = ("session", "user", "team", "preset")


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ("budget", "period_start", "at")
