"""The arena app's pages (namespace ``arena``); the site's root URLconf is ``config.urls``."""
from django.urls import path

from arena.views import account, battle, leaderboard, pages, reactions, research

app_name = "arena"
urlpatterns = [
    path("", pages.home, name="home"),
    path("battle/", battle.battle_page, name="battle"),
    path("battle/<uuid:battle_id>/vote/", battle.vote, name="vote"),
    path("battle/<uuid:battle_id>/react/", reactions.react, name="react"),
    path("contributions/", pages.contributions, name="contributions"),
    path("contributors/", pages.contributors_board, name="contributors"),
    path("campaign/", pages.campaign_page, name="campaign"),
    path("campaigns/<slug:slug>/", pages.campaign_page, name="campaign_detail"),
    path("about/", pages.about, name="about"),
    path("faq/", pages.faq, name="faq"),
    path("privacy/", pages.privacy, name="privacy"),
    path("contact/", pages.contact, name="contact"),
    path("leaderboard/", leaderboard.leaderboard, name="leaderboard"),
    path("research/", research.research_page, name="research"),
    path("research/agreement/", research.agreement_page, name="research_agreement"),
    path("research/export/", research.research_download, name="research_export"),
    path("research/exports/<uuid:job_id>/", research.export_job_status, name="export_job_status"),
    path("research/exports/<uuid:job_id>/download/", research.export_job_download, name="export_job_download"),
    path("account/signup/", account.signup, name="signup"),
    path("account/data/", account.my_data, name="my_data"),
    path("account/data.json", account.download_my_data, name="download_my_data"),
    path("account/delete/", account.delete_account, name="delete_account"),
]
