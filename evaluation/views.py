"""Thin views: the public benchmarks table and a staff-only run status (for progress polling)."""
from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render

from . import selectors, suites
from .models import EvaluationRun


def benchmarks(request):
    rows = selectors.benchmark_rows()
    context = {
        "benchmarks": suites.benchmarks(),
        "rows": rows,
        "correlations": selectors.correlations(bench_scores={r.model: r.average for r in rows if r.complete}),
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
