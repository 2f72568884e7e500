from django.contrib import admin

from .models import RealtimeSession, SessionEvent


@admin.register(RealtimeSession)
class RealtimeSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "upstream", "state", "team", "visibility", "preset", "last_seq", "created_at")
    list_filter = ("state", "upstream", "visibility")
    search_fields = ("id", "owner__username")


@admin.register(SessionEvent)
class SessionEventAdmin(admin.ModelAdmin):
    list_display = ("session", "seq", "direction", "type", "ts")
    list_filter = ("direction",)
    search_fields = ("type",)
