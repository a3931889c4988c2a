"""The HTML report's charts as SVG: drawn by matplotlib, no JavaScript, the same bytes every run.

Agg is the backend (no window system). The SVG's ids come from a fixed salt and its
metadata carry no date, so the same figures give the same file. Text is drawn as paths,
so the page looks the same without the fonts, and never read as mathtext, so a market
called "$x$" shows as written. Each chart's ids get its name as prefix: several SVGs
inline in one page must not share an id.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure

from outgoing_cli.report.rows import SCORES
from outgoing_cli.report.tally import Tally

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

STYLE: dict[RcKeyType, Any] = {
    "svg.hashsalt": "outgoing-report",
    "svg.fonttype": "path",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
MEETING_STAGES = (
    ("requested", "meetings_requested", "#aed6f1"),
    ("scheduled", "meetings_scheduled", "#2e86c1"),
    ("held", "meetings_held", "#1b4f72"),
)
SCORE_COLORS = ("#c0392b", "#e67e22", "#f4d03f", "#58d68d", "#1e8449")
_IDS = re.compile(r'(\bid="|href="#|url\(#)')


@contextmanager
def _style() -> Iterator[None]:
    matplotlib.use("Agg")
    with matplotlib.rc_context(STYLE):
        yield


def _svg(figure: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element to put inline in HTML, its ids prefixed with ``name``."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return _IDS.sub(rf"\g<1>{name}-", text[text.index("<svg") :])


def meetings_per_market(markets: Mapping[str, Tally]) -> str:
    """Requested, scheduled and held meetings side by side, one band per market."""
    names = list(markets)
    with _style():
        figure = Figure(figsize=(7, 0.8 + 0.6 * max(1, len(names))))
        axes = figure.add_subplot()
        height = 0.8 / len(MEETING_STAGES)
        for i, (label, attribute, color) in enumerate(MEETING_STAGES):
            positions = [k + (i - 1) * height for k in range(len(names))]
            bars = axes.barh(positions, [getattr(markets[n], attribute) for n in names], height=height, label=label, color=color)
            axes.bar_label(bars, padding=2, fontsize=7)
        axes.set_yticks(range(len(names)), labels=names)
        axes.invert_yaxis()
        axes.set_xlabel("meetings")
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(MEETING_STAGES), frameon=False)
        return _svg(figure, "meetings-per-market")


def satisfaction_distribution(histogram: Mapping[str, int]) -> str:
    """How many answers gave each score, 1 to 5."""
    with _style():
        figure = Figure(figsize=(5, 3))
        axes = figure.add_subplot()
        bars = axes.bar(SCORES, [histogram.get(score, 0) for score in SCORES], color=SCORE_COLORS)
        axes.bar_label(bars, padding=2)
        axes.set_xlabel("score (1 = poor, 5 = excellent)")
        axes.set_ylabel("answers")
        return _svg(figure, "satisfaction")


def outcomes_funnel(tally: Tally) -> str:
    """Requested, scheduled, held, then what the follow-ups say came of the meetings."""
    stages = {
        "meetings requested": tally.meetings_requested,
        "scheduled": tally.meetings_scheduled,
        "held": tally.meetings_held,
        "negotiation or contract": tally.outcomes.get("negotiation", 0) + tally.outcomes.get("contract_signed", 0),
        "contract signed": tally.outcomes.get("contract_signed", 0),
    }
    with _style():
        figure = Figure(figsize=(7, 3))
        axes = figure.add_subplot()
        values = list(stages.values())
        bars = axes.barh(list(stages), values, left=[-v / 2 for v in values], color="#2e86c1")
        axes.bar_label(bars, labels=[f"{v:,}" for v in values], label_type="center", color="white", fontweight="bold")
        axes.invert_yaxis()
        axes.set_xticks([])
        axes.spines[["bottom", "left"]].set_visible(False)
        axes.tick_params(axis="y", length=0)
        return _svg(figure, "outcomes-funnel")
