"""Thin views: the public benchmarks table and a staff-only run status (for progress polling)."""
from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render

from . import selectors
from .models import EvaluationRun
from .study import AVERAGES, STUDY


def benchmarks(request):
    table = selectors.benchmark_table(request.GET.get("protocol") or None)
    rows = [{"model": row.model, "cells": row.cells(table.columns), "averages": row.averages()} for row in table.rows]
    context = {
        "table": table, "rows": rows, "averages": AVERAGES, "study": STUDY,
        "correlations": selectors.correlations(table.rows),
    }
    return render(request, "evaluation/benchmarks.html", context)


@staff_member_required
def run_status(request, pk: int):
    run = get_object_or_404(EvaluationRun, pk=pk)
    return JsonResponse({
        "id": run.pk, "status": run.status, "progress": run.progress, "message": run.progress_message,
        "error": run.error, "finished": run.is_finished, "n_items": run.n_items,
        "items_per_second": run.items_per_second,
    })
