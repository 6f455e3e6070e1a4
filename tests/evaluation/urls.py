"""The project's URLs plus the benchmarks page, until arena/urls.py includes evaluation.urls."""
from django.urls import include, path

from arena.urls import urlpatterns as arena_urlpatterns

urlpatterns = [*arena_urlpatterns, path("benchmarks/", include("evaluation.urls"))]
