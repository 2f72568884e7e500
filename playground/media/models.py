"""Where a recording's audio is: sealed FLAC chunks in the `recordings` storage, and the open chunk.

Each side of a session (user, assistant, items) is one stream of PCM16 bytes; an event's audio is the
range `[offset, offset + length)` of its side's stream (media/refs.py). The stream is cut into chunks:
while a chunk is open its PCM sits in `AudioPending` rows, written in the same transaction as the
event rows that refer to it, so a recording is never ahead of its audio; at 1 MiB (or the session's
end) the chunk is sealed: encoded once as FLAC, saved to storage, and its pending rows deleted.
"""

from __future__ import annotations

from django.db import models


class Side(models.TextChoices):
    USER = "user", "user"  # the client's input_audio_buffer.append
    ASSISTANT = "assistant", "assistant"  # the server's output audio deltas
    ITEMS = "items", "items"  # audio content of conversation.item.create


class AudioChunk(models.Model):
    """A sealed chunk: `length` PCM bytes of one side from `start`, as a FLAC file in storage."""

    session = models.ForeignKey("realtime.RealtimeSession", on_delete=models.CASCADE, related_name="audio_chunks")
    side = models.CharField(max_length=10, choices=Side.choices)
    start = models.BigIntegerField()
    length = models.BigIntegerField()
    name = models.CharField(max_length=300, help_text="The file's name in the `recordings` storage")
    sha256 = models.CharField(max_length=64, help_text="Of the PCM it holds, checked when it is read back")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "side", "start"]
        constraints = [models.UniqueConstraint(fields=["session", "side", "start"], name="unique_audio_chunk")]

    def __str__(self) -> str:
        return f"{self.session_id} {self.side} [{self.start}, {self.start + self.length})"


class AudioPending(models.Model):
    """PCM of a side's open chunk, as one recorder batch wrote it."""

    session = models.ForeignKey("realtime.RealtimeSession", on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=10, choices=Side.choices)
    start = models.BigIntegerField()
    pcm = models.BinaryField()

    class Meta:
        ordering = ["session", "side", "start"]
        constraints = [models.UniqueConstraint(fields=["session", "side", "start"], name="unique_audio_pending")]

    def __str__(self) -> str:
        return f"{self.session_id} {self.side} pending from {self.start}"
