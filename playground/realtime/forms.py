"""The recordings list's filters (a GET form: the filtered list has a URL to share)."""

from __future__ import annotations

from typing import Any

from django import forms

from playground.presets.models import Preset
from playground.presets.selectors import presets_visible
from playground.teams.models import Team

from .models import SessionState


class RecordingFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "any state"), *SessionState.choices], required=False)
    preset = forms.ModelChoiceField(queryset=Preset.objects.none(), required=False, empty_label="any preset")
    user = forms.CharField(required=False, max_length=150, label="User", help_text="owner's username")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="any team")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only what the user may see is offered, and anything else is refused as invalid.
        self.fields["preset"].queryset = presets_visible(user=user).filter(deleted_at__isnull=True)  # type: ignore[attr-defined]
        self.fields["team"].queryset = Team.objects.filter(memberships__user=user)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("preset"):
            data["preset"] = data["preset"].pk
        if data.get("team"):
            data["team"] = data["team"].pk
        return data
