from __future__ import annotations

from typing import Any

from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from . import throttle
from .forms import SignupForm


class ThrottledLoginView(LoginView):
    """Django's sign-in, refused for a while after too many failures for a username or from an IP
    (playground/accounts/throttle.py), even with the right password."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = throttle.login_wait(username=request.POST.get("username", ""), ip=throttle.client_ip(request))
        if wait:
            return self._refused(wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        throttle.login_succeeded(username=form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        username, ip = self.request.POST.get("username", ""), throttle.client_ip(self.request)
        throttle.login_failed(username=username, ip=ip)
        wait = throttle.login_wait(username=username, ip=ip)
        return self._refused(wait) if wait else super().form_invalid(form)

    def _refused(self, wait: int) -> HttpResponse:
        message = f"Too many failed sign-ins; try again in {throttle.in_minutes(wait)}."
        context = self.get_context_data(form=self.get_form_class()(self.request), throttled=message)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(wait)
        return response


def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        wait = throttle.signup_wait(ip=throttle.client_ip(request))
        if wait:
            message = f"Too many accounts were created from your network; try again in {throttle.in_minutes(wait)}."
            response = render(
                request, "registration/signup.html", {"form": SignupForm(), "throttled": message}, status=429
            )
            response["Retry-After"] = str(wait)
            return response
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.save()
            throttle.signup_done(ip=throttle.client_ip(request))
            login(request, user)
            return redirect("home")
    else:
        form = SignupForm()
    return render(request, "registration/signup.html", {"form": form})
