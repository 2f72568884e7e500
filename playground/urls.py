from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from playground.accounts import views as account_views
from playground.api import api
from playground.realtime import views as realtime_views

urlpatterns = [
    path("", realtime_views.home, name="home"),
    path("sessions/<uuid:session_id>/", realtime_views.session_page, name="session"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
