from django.contrib import admin

from .models import AssertionResult, CheckResult, CheckRun


class CheckResultInline(admin.TabularInline):
    model = CheckResult
    extra = 0
    fields = ("check_name", "attempt", "status", "reason", "session", "done_ms")
    readonly_fields = fields


@admin.register(CheckRun)
class CheckRunAdmin(admin.ModelAdmin):
    list_display = (
        "preset",
        "preset_version",
        "owner",
        "upstream",
        "state",
        "passed",
        "failed",
        "errors",
        "created_at",
    )
    list_filter = ("state", "upstream", "source")
    search_fields = ("preset__name", "owner__username", "check_name")
    inlines = [CheckResultInline]


@admin.register(CheckResult)
class CheckResultAdmin(admin.ModelAdmin):
    list_display = ("check_name", "attempt", "status", "run", "finished_at")
    list_filter = ("status",)
    search_fields = ("check_name", "reason")


@admin.register(AssertionResult)
class AssertionResultAdmin(admin.ModelAdmin):
    list_display = ("result", "turn", "index", "type", "status")
    list_filter = ("status", "type")
    search_fields = ("label", "reason")
