from django.contrib import admin

from .models import AudioChunk, AudioPending


@admin.register(AudioChunk)
class AudioChunkAdmin(admin.ModelAdmin):
    list_display = ("session", "side", "start", "length", "name", "created_at")
    list_filter = ("side",)
    search_fields = ("session__id", "name")


@admin.register(AudioPending)
class AudioPendingAdmin(admin.ModelAdmin):
    list_display = ("session", "side", "start")
    exclude = ("pcm",)  # raw PCM: nothing a person reads
