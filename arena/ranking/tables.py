"""Paper-ready tables of the boards: CSV and LaTeX (booktabs), raw and style-controlled side by side.

One row per (group, dimension, model): score, interval, votes, rank and the style-controlled score
with its interval, as an arena paper's appendix reports them. Model names are untrusted text: the
LaTeX writer escapes every character LaTeX treats specially; the CSV writer is the csv module's.
"""
from __future__ import annotations

import csv
import io

from arena.ranking.board import Leaderboard
from arena.vocabulary import DIMENSIONS, Dimension

COLUMNS = ("group", "dimension", "rank", "model", "score", "lower", "upper", "votes", "preliminary",
           "style_score", "style_lower", "style_upper", "style_votes")
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def board_rows(board: Leaderboard, method: str, level: float, group: str = "all") -> list[dict]:
    """Rows for every dimension of one board; the style fit shows its sandwich interval unless it
    has the chosen method's."""
    rows = []
    for dimension in DIMENSIONS:
        style = board.style.get(dimension)
        styled = {score.model_id: score for score in style.scores} if style else {}
        for score in board.boards[dimension].scores:
            lower, upper = score.intervals[(method, level)]
            controlled = styled.get(score.model_id)
            style_key = (method, level) if controlled and (method, level) in controlled.intervals else ("sandwich", level)
            rows.append({
                "group": group, "dimension": dimension, "rank": score.ranks.get((method, level), ""),
                "model": score.name, "score": round(score.rating, 1), "lower": round(lower, 1),
                "upper": round(upper, 1), "votes": score.votes, "preliminary": score.preliminary,
                "style_score": round(controlled.rating, 1) if controlled else "",
                "style_lower": round(controlled.intervals[style_key][0], 1) if controlled else "",
                "style_upper": round(controlled.intervals[style_key][1], 1) if controlled else "",
                "style_votes": controlled.votes if controlled else "",
            })
    return rows


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(rows: list[dict], level: float, method_label: str) -> str:
    """One booktabs table per (group, dimension); preliminary models below a rule, marked with a dagger."""
    percent = round(level * 100)
    out = [f"% Basque LLM arena leaderboard: {percent}% intervals ({latex_escape(method_label)}); "
           "needs \\usepackage{booktabs}"]
    blocks: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        blocks.setdefault((row["group"], row["dimension"]), []).append(row)
    for (group, dimension), block in blocks.items():
        title = f"{Dimension(dimension).label}" + ("" if group == "all" else f" ({group})")
        out += [
            "\\begin{table}[ht]", "\\centering", "\\small",
            f"\\caption{{{latex_escape(title)}: Bradley--Terry scores with {percent}\\% intervals, "
            "raw and style-controlled}",
            "\\begin{tabular}{rlrcrrc}", "\\toprule",
            f"Rank & Model & Score & {percent}\\% interval & Votes & Style-controlled & {percent}\\% interval \\\\",
            "\\midrule",
        ]
        listed = [row for row in block if not row["preliminary"]]
        preliminary = [row for row in block if row["preliminary"]]
        out += [_latex_row(row) for row in listed]
        if preliminary:
            out.append("\\midrule")
            out += [_latex_row(row) for row in preliminary]
        out += ["\\bottomrule", "\\end{tabular}"]
        if preliminary:
            out.append("\\par\\smallskip{\\footnotesize $\\dagger$ preliminary: too few votes to be ranked.}")
        out += ["\\end{table}", ""]
    return "\n".join(out)


def _latex_row(row: dict) -> str:
    name = latex_escape(row["model"]) + ("$^\\dagger$" if row["preliminary"] else "")
    style = (f"{row['style_score']:.0f} & [{row['style_lower']:.0f}, {row['style_upper']:.0f}]"
             if row["style_score"] != "" else "-- & --")
    rank = row["rank"] if row["rank"] != "" else "--"
    return (f"{rank} & {name} & {row['score']:.0f} & [{row['lower']:.0f}, {row['upper']:.0f}] & "
            f"{row['votes']} & {style} \\\\")
