from django.contrib import admin

from .models import Preset, PresetVersion


class PresetVersionInline(admin.TabularInline):
    model = PresetVersion
    extra = 0
    readonly_fields = ("number", "content", "created_at", "created_by")


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "team", "visibility", "builtin", "slug", "deleted_at", "updated_at")
    list_filter = ("builtin",)
    search_fields = ("name", "slug", "owner__username")
    inlines = [PresetVersionInline]


@admin.register(PresetVersion)
class PresetVersionAdmin(admin.ModelAdmin):
    list_display = ("preset", "number", "created_by", "created_at")
    search_fields = ("preset__name",)
