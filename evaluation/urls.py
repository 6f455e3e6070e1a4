from django.urls import path

from . import views

app_name = "evaluation"

urlpatterns = [
    path("", views.benchmarks, name="benchmarks"),
    path("runs/<int:pk>/status/", views.run_status, name="run-status"),
]
