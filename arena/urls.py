from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from arena.views import account, battle, leaderboard, pages, research

app_patterns = (
    [
        path("", pages.home, name="home"),
        path("battle/", battle.battle_page, name="battle"),
        path("battle/<uuid:battle_id>/vote/", battle.vote, name="vote"),
        path("contributions/", pages.contributions, name="contributions"),
        path("leaderboard/", leaderboard.leaderboard, name="leaderboard"),
        path("research/", research.research_page, name="research"),
        path("research/export/", research.research_download, name="research_export"),
        path("account/signup/", account.signup, name="signup"),
        path("account/data/", account.my_data, name="my_data"),
        path("account/data.json", account.download_my_data, name="download_my_data"),
        path("account/delete/", account.delete_account, name="delete_account"),
    ],
    "arena",
)

urlpatterns = [
    path("", include(app_patterns)),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("benchmarks/", include("evaluation.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
