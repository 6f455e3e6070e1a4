"""The Celery tasks, run in-process as in the embedded default (no broker)."""
from __future__ import annotations

from models_serving import tasks
from models_serving.models import ServedModel


def test_check_health_sums_up_the_check(listing_openai, db):
    ServedModel.objects.create(public_name="Alfa", kind="external", endpoint_url=listing_openai.base_url,
                               served_name="echo-alpha")
    ServedModel.objects.create(public_name="Galdua", kind="external", endpoint_url=listing_openai.base_url,
                               served_name="ez-dago")
    assert tasks.run(tasks.check_health) == {"healthy": 1, "unhealthy": ["Galdua"]}


def test_apply_serving_plan_with_nothing_to_serve(db, serving_dir):
    assert tasks.run(tasks.apply_serving_plan, wait=False) == []
