"""Public leaderboard: Bradley–Terry scores with intervals, per dimension, plus plots and matrices.

Plots are served by the same view (``?plot=scores|winrate|counts&format=svg|png``) so the page
and its downloads always show the same cached computation.
"""
from __future__ import annotations

import dataclasses
import hashlib

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from arena import ranking, tasks
from arena.models import ArenaConfig, Campaign, Category, Participant
from arena.ranking import plots, tables
from arena.ranking.counts import votes_since
from arena.vocabulary import DIMENSIONS, Dimension, exclusion_label

METHOD_LABELS = {
    "bootstrap": gettext_lazy("Bootstrap (multinomial, percentile)"),
    "sandwich": gettext_lazy("Analytic (sandwich)"),
    "fisher": gettext_lazy("Analytic (Bayesian posterior: information plus prior)"),
}
FLAG_LABELS = {
    "no_losses": gettext_lazy("never lost: the score is held finite only by the regularisation"),
    "no_wins": gettext_lazy("never won: the score is held finite only by the regularisation"),
    "disconnected": gettext_lazy("not compared (even indirectly) with every other model"),
}
# Plain-words reading of each style coefficient: the win probability of an answer with that contrast
# against an equally good one (see arena/ranking/style_board.py CONTRASTS).
EFFECT_SENTENCES = {
    "tokens": gettext_lazy("An answer twice as long as an equally good one wins %(p)s%% of the time"),
    "headers": gettext_lazy("Against an equally good answer without headings, one with 3 headings wins %(p)s%% of the time"),
    "list_items": gettext_lazy("Against an equally good answer without lists, one with 3 list items wins %(p)s%% of the time"),
    "bold": gettext_lazy("Against an equally good answer without bold text, one with 3 bold phrases wins %(p)s%% of the time"),
    "basque_share": gettext_lazy(
        "Against an equally good answer that is half in another language, one entirely in Basque wins %(p)s%% of the "
        "time"),
    "left_position": gettext_lazy("Between two equally good answers, the one shown on the left wins %(p)s%% of the time"),
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
    category = forms.ChoiceField(label=gettext_lazy("Prompt topic"), required=False)
    prompt_language = forms.ChoiceField(label=gettext_lazy("Prompt language"), required=False, choices=[
        ("", gettext_lazy("Any")), ("eu", gettext_lazy("Basque prompts only")), ("es", gettext_lazy("Spanish")),
        ("en", gettext_lazy("English")), ("fr", gettext_lazy("French")),
    ])
    campaign = forms.ChoiceField(label=gettext_lazy("Campaign"), required=False)
    confidence = forms.ChoiceField(label=gettext_lazy("Interval"), required=False,
                                   choices=[("90", "90%"), ("95", "95%")])
    method = forms.ChoiceField(label=gettext_lazy("Interval method"), required=False,
                               choices=list(METHOD_LABELS.items()))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All topics")), *Category.objects.values_list("slug", "name")]
        language = translation.get_language() or "eu"
        self.fields["campaign"].choices = [("", _("All votes")),
                                           *((c.slug, c.title_for(language)) for c in Campaign.objects.all())]

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
            include_flagged=data.get("flagged") == "include", category=data.get("category") or "",
            prompt_language=data.get("prompt_language") or "", campaign=data.get("campaign") or "",
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
    filters = form.vote_filters()
    board = ranking.get_leaderboard(filters, both_bad_as_tie=config.both_bad_as_tie)
    options = form.cleaned_data
    level = int(options["confidence"]) / 100.0
    if "plot" in request.GET:
        return _plot_response(request, board, options["dimension"], options["method"], level)
    if "table" in request.GET:
        return _table_response(request, filters, config.both_bad_as_tie, options["method"], level)
    return render(request, "arena/leaderboard.html", {
        "form": form,
        "board": board,
        "sections": [_section(board.boards[name], board.style.get(name), options["method"], level) for name in DIMENSIONS],
        "lagging_votes": votes_since(filters, board.latest_vote_at) if board.total_votes or board.excluded_total else 0,
        "refresh_seconds": settings.ARENA["LEADERBOARD_REFRESH_SECONDS"],
        "filtered": bool(_query_without(request, "plot", "format", "download", "table", "by")),
        "focus": _focus(board.boards[options["dimension"]]),
        "excluded": [
            {"label": exclusion_label(code), "count": n}
            for code, n in sorted(board.excluded_by_reason.items(), key=lambda item: -item[1])
        ],
        "level_percent": round(level * 100),
        "method_label": METHOD_LABELS[options["method"]],
        "query": _query_without(request, "plot", "format", "download", "table", "by"),
    })


def _section(dim: ranking.DimensionBoard, style, method: str, level: float) -> dict:
    key = (method, level)
    styled = {score.model_id: score for score in style.scores} if style else {}
    rows = [
        {
            "rank": score.ranks.get(key), "preliminary": score.preliminary, "name": score.name, "rating": score.rating,
            "lower": score.intervals[key][0], "upper": score.intervals[key][1],
            "minus": score.rating - score.intervals[key][0], "plus": score.intervals[key][1] - score.rating,
            "votes": score.votes, "win_rate": 100.0 * score.win_rate,
            "flags": [FLAG_LABELS[flag] for flag in score.flags if flag != "disconnected"],
            "style": _style_cell(styled.get(score.model_id), method, level),
        }
        for score in dim.scores
    ]
    names = {score.model_id: score.name for score in dim.scores}
    return {
        "name": dim.dimension, "label": Dimension(dim.dimension).label,
        "rows": [row for row in rows if not row["preliminary"]],
        "preliminary_rows": [row for row in rows if row["preliminary"]],
        "total_votes": dim.total_votes, "dropped_both_bad": dim.dropped_both_bad,
        "warnings": [WARNING_LABELS[code] for code in dim.warnings],
        "neighbours": [{"upper": names[upper], "lower": names[lower], "votes": needed}
                       for upper, lower, needed in dim.neighbours],
        "style": _style_summary(style, method, level),
    }


def _style_key(intervals: dict, method: str, level: float) -> tuple[str, float]:
    """The style fit has sandwich and (when asked) bootstrap intervals; other methods show the sandwich."""
    return (method, level) if (method, level) in intervals else ("sandwich", level)


def _style_cell(score, method: str, level: float) -> dict | None:
    if score is None:
        return None
    lower, upper = score.intervals[_style_key(score.intervals, method, level)]
    return {"rating": score.rating, "lower": lower, "upper": upper, "change": score.rating - score.raw_rating}


def _style_summary(style, method: str, level: float) -> dict | None:
    if style is None or not style.scores:
        return None
    effects = []
    for coefficient in style.coefficients:
        if not coefficient.observed:
            continue  # e.g. no answer had a header yet: nothing to say about headers
        lower, upper = coefficient.intervals[_style_key(coefficient.intervals, method, level)]
        effects.append({
            "sentence": EFFECT_SENTENCES[coefficient.name] % {"p": f"{100 * coefficient.win_probability:.0f}"},
            "lower": 100 * lower, "upper": 100 * upper, "clear": lower > 0.5 or upper < 0.5,
        })
    return {"effects": effects, "votes_used": style.votes_used, "votes_without_style": style.votes_without_style,
            "method": "bootstrap" if ("bootstrap", level) in style.scores[0].intervals and method == "bootstrap"
            else "sandwich"}


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


class TableForm(forms.Form):
    table = forms.ChoiceField(choices=[("csv", "CSV"), ("tex", "LaTeX")])
    by = forms.ChoiceField(required=False, choices=[("", "all"), ("basque_level", "basque_level"),
                                                    ("education", "education")])


GROUPS = {"basque_level": Participant.BasqueLevel, "education": Participant.Education}


def _table_response(request, filters, both_bad_as_tie: bool, method: str, level: float) -> HttpResponse:
    """The boards as a paper table: ``?table=csv|tex``, optionally one block per group (``&by=basque_level``)."""
    form = TableForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("Unknown table format or grouping."), status=400, content_type="text/plain; charset=utf-8")
    kind, by = form.cleaned_data["table"], form.cleaned_data["by"]
    if by:  # one board per group, each with the page's other filters (cached like any filtered board)
        groups = [(value, dataclasses.replace(filters, **{by: value})) for value in GROUPS[by].values]
    else:
        groups = [("all", filters)]
    rows = []
    for group, group_filters in groups:
        board = ranking.get_leaderboard(group_filters, both_bad_as_tie=both_bad_as_tie)
        rows += tables.board_rows(board, method, level, group)
    if kind == "csv":
        response = HttpResponse(tables.to_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(tables.to_latex(rows, level, str(METHOD_LABELS[method])),
                                content_type="text/x-tex; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leaderboard{"-" + by if by else ""}.{kind}"'
    return response


def _query_without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
