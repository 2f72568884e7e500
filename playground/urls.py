from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from playground import ops
from playground.accounts import views as account_views
from playground.api import api
from playground.presets import views as preset_views
from playground.realtime import views as realtime_views
from playground.recordings import pages as recording_pages
from playground.recordings import views as recording_views
from playground.teams import views as team_views
from playground.usage import views as usage_views

urlpatterns = [
    path("", realtime_views.home, name="home"),
    path("sessions/<uuid:session_id>/", realtime_views.session_page, name="session"),
    path("sessions/<uuid:left_id>/compare/<uuid:right_id>/", recording_pages.compare_page, name="compare"),
    path("sessions/<uuid:session_id>/replay/", recording_views.replay_page, name="replay"),
    path("presets/", preset_views.preset_list_page, name="presets"),
    path("presets/<uuid:preset_id>/", preset_views.preset_page, name="preset"),
    path("s/p/<str:token>/", preset_views.shared_preset_page, name="shared-preset"),
    path("s/r/<str:token>/", recording_views.shared_replay_page, name="shared-recording"),
    path("recordings/", realtime_views.recording_list_page, name="recordings"),
    path("teams/", team_views.team_list_page, name="teams"),
    path("teams/<uuid:team_id>/", team_views.team_page, name="team"),
    path("invite/<str:token>/", team_views.invitation_page, name="invitation"),
    path("usage/", usage_views.usage_page, name="usage"),
    path("accounts/login/", account_views.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics_view, name="metrics"),
]
