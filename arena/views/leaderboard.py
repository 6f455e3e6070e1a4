"""Public leaderboard: Bradley–Terry scores with intervals, per dimension, plus plots and matrices.

Plots are served by the same view (``?plot=scores|winrate|counts&format=svg|png``) so the page
and its downloads always show the same cached computation.
"""
from __future__ import annotations

import hashlib

from django import forms
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from arena import ranking, tasks
from arena.models import ArenaConfig, Participant
from arena.ranking import plots
from arena.vocabulary import DIMENSIONS, Dimension, exclusion_label

METHOD_LABELS = {
    "bootstrap": gettext_lazy("Bootstrap (multinomial, percentile)"),
    "sandwich": gettext_lazy("Analytic (sandwich)"),
    "fisher": gettext_lazy("Analytic (inverse Fisher information)"),
}
FLAG_LABELS = {
    "no_losses": gettext_lazy("never lost: the score is held finite only by the regularisation"),
    "no_wins": gettext_lazy("never won: the score is held finite only by the regularisation"),
    "disconnected": gettext_lazy("not compared (even indirectly) with every other model"),
}
WARNING_LABELS = {
    "no_votes": gettext_lazy("No votes match these filters yet."),
    "single_model": gettext_lazy("Only one model has votes: at least two are needed for a ranking."),
    "few_votes": gettext_lazy("Very few votes: the intervals are wide and the ranking is not reliable yet."),
    "all_ties": gettext_lazy("Every vote is a tie: the models cannot be told apart, so all scores are equal."),
    "disconnected": gettext_lazy(
        "Some models were never compared, even indirectly: scores across the separate groups are not comparable."
    ),
}


class LeaderboardFilterForm(forms.Form):
    dimension = forms.ChoiceField(label=gettext_lazy("Plots and matrices for"), required=False,
                                  choices=Dimension.choices)
    basque_level = forms.ChoiceField(label=gettext_lazy("Voter's Basque level"), required=False,
                                     choices=[("", gettext_lazy("All levels")), *Participant.BasqueLevel.choices])
    education = forms.ChoiceField(label=gettext_lazy("Voter's education"), required=False,
                                  choices=[("", gettext_lazy("All")), *Participant.Education.choices])
    date_from = forms.DateField(label=gettext_lazy("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    flagged = forms.ChoiceField(label=gettext_lazy("Flagged votes"), required=False, choices=[
        ("exclude", gettext_lazy("Leave out")), ("include", gettext_lazy("Include")),
    ])
    confidence = forms.ChoiceField(label=gettext_lazy("Interval"), required=False,
                                   choices=[("90", "90%"), ("95", "95%")])
    method = forms.ChoiceField(label=gettext_lazy("Interval method"), required=False,
                               choices=list(METHOD_LABELS.items()))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        data["dimension"] = data.get("dimension") or Dimension.OVERALL.value
        data["confidence"] = data.get("confidence") or "90"
        data["method"] = data.get("method") or "bootstrap"
        return data

    def vote_filters(self) -> ranking.VoteFilters:
        data = self.cleaned_data
        return ranking.VoteFilters(
            basque_level=data.get("basque_level") or "", education=data.get("education") or "",
            date_from=data.get("date_from"), date_to=data.get("date_to"),
            include_flagged=data.get("flagged") == "include",
        )


class PlotForm(forms.Form):
    plot = forms.ChoiceField(choices=[(kind, kind) for kind in plots.PLOT_KINDS])
    format = forms.ChoiceField(required=False, choices=[(fmt, fmt) for fmt in plots.FORMATS])


def leaderboard(request):
    form = LeaderboardFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "arena/leaderboard.html", {"form": form, "invalid": True}, status=400)
    config = ArenaConfig.current()
    tasks.queue_refresh_if_due()  # catch up on votes that arrived while the refresh was throttled
    board = ranking.get_leaderboard(form.vote_filters(), both_bad_as_tie=config.both_bad_as_tie)
    options = form.cleaned_data
    level = int(options["confidence"]) / 100.0
    if "plot" in request.GET:
        return _plot_response(request, board, options["dimension"], options["method"], level)
    return render(request, "arena/leaderboard.html", {
        "form": form,
        "board": board,
        "sections": [_section(board.boards[name], options["method"], level) for name in DIMENSIONS],
        "focus": _focus(board.boards[options["dimension"]]),
        "excluded": [
            {"label": exclusion_label(code), "count": n}
            for code, n in sorted(board.excluded_by_reason.items(), key=lambda item: -item[1])
        ],
        "level_percent": round(level * 100),
        "method_label": METHOD_LABELS[options["method"]],
        "query": _query_without(request, "plot", "format", "download"),
    })


def _section(dim: ranking.DimensionBoard, method: str, level: float) -> dict:
    key = (method, level)
    rows = [
        {
            "rank": score.ranks[key], "name": score.name, "rating": score.rating,
            "lower": score.intervals[key][0], "upper": score.intervals[key][1],
            "minus": score.rating - score.intervals[key][0], "plus": score.intervals[key][1] - score.rating,
            "votes": score.votes, "win_rate": 100.0 * score.win_rate,
            "flags": [FLAG_LABELS[flag] for flag in score.flags if flag != "disconnected"],
        }
        for score in dim.scores
    ]
    return {
        "name": dim.dimension, "label": Dimension(dim.dimension).label, "rows": rows,
        "total_votes": dim.total_votes, "dropped_both_bad": dim.dropped_both_bad,
        "warnings": [WARNING_LABELS[code] for code in dim.warnings],
    }


def _colour(value: float | None, kind: str) -> str:
    """Background for a matrix cell: red->white->blue for win rates, white->blue for counts."""
    if value is None:
        return "#f0f0f0"
    if kind == "winrate":
        if value >= 0.5:
            t = min(1.0, (value - 0.5) * 2)
            return f"rgb({int(255 - 180 * t)},{int(255 - 120 * t)},255)"
        t = min(1.0, (0.5 - value) * 2)
        return f"rgb(255,{int(255 - 150 * t)},{int(255 - 150 * t)})"
    return f"rgb({int(255 - 200 * value)},{int(255 - 140 * value)},255)"


def _focus(dim: ranking.DimensionBoard) -> dict:
    names = [score.name for score in dim.scores]
    most = max((max(row) for row in dim.battle_counts), default=0) or 1
    win_rows = [
        {"name": names[a], "cells": [
            {"text": "" if a == b or value is None else f"{100 * value:.0f}%",
             "colour": "#ddd" if a == b else _colour(value, "winrate")}
            for b, value in enumerate(row)
        ]}
        for a, row in enumerate(dim.win_rates)
    ]
    count_rows = [
        {"name": names[a], "cells": [
            {"text": "" if a == b else str(value), "colour": "#ddd" if a == b else _colour(value / most, "counts")}
            for b, value in enumerate(row)
        ]}
        for a, row in enumerate(dim.battle_counts)
    ]
    return {"label": Dimension(dim.dimension).label, "names": names, "win_rows": win_rows,
            "count_rows": count_rows, "has_data": bool(names)}


def _plot_response(request, board, dimension: str, method: str, level: float) -> HttpResponse:
    form = PlotForm(request.GET)
    dim = board.boards[dimension]
    if not form.is_valid():
        return HttpResponse(_("Unknown plot or format."), status=400, content_type="text/plain; charset=utf-8")
    if not dim.scores:
        return HttpResponse(_("No votes match these filters yet."), status=404, content_type="text/plain; charset=utf-8")
    kind, fmt = form.cleaned_data["plot"], form.cleaned_data["format"] or "svg"
    raw = f"{board.computed_at.isoformat()}|{board.filters.cache_token()}|{board.both_bad_as_tie}|{dimension}|{kind}|{fmt}|{method}|{level}|{request.LANGUAGE_CODE}"
    key = "arena:leaderboard:plot:" + hashlib.sha1(raw.encode()).hexdigest()
    body = cache.get(key)
    if body is None:
        body = plots.render(dim, kind, fmt, method, level, str(Dimension(dimension).label))
        cache.set(key, body, 3600)
    response = HttpResponse(body, content_type=plots.FORMATS[fmt])
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="leaderboard-{dimension}-{kind}.{fmt}"'
    return response


def _query_without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
