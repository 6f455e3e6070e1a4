"""The site's root URLconf: the arena app, log-in/out, password reset, benchmarks, language switch and the admin."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy
from django.utils.translation import gettext_lazy

admin.site.site_header = gettext_lazy("Basque model arena: administration")
admin.site.site_title = gettext_lazy("Basque model arena")
admin.site.index_title = gettext_lazy("Arena administration")

# Django's password reset: the link goes by e-mail (EMAIL_BACKEND; the console backend in the demo).
password_reset = [
    path("account/password/reset/", auth_views.PasswordResetView.as_view(
        template_name="registration/password_reset_form.html",
        email_template_name="registration/password_reset_email.txt",
        subject_template_name="registration/password_reset_subject.txt",
    ), name="password_reset"),
    path("account/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="registration/password_reset_done.html"), name="password_reset_done"),
    path("account/password/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="registration/password_reset_confirm.html",
        success_url=reverse_lazy("password_reset_complete")), name="password_reset_confirm"),
    path("account/password/reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="registration/password_reset_complete.html"), name="password_reset_complete"),
]

urlpatterns = [
    path("", include("arena.urls")),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    *password_reset,
    path("benchmarks/", include("evaluation.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
