"""PNG plots of an eval result: hit@k curve, scores by question type, latency histogram.

Figures are drawn with matplotlib's object API on the Agg canvas, so nothing touches pyplot's
global state or needs a display. matplotlib is optional (``pip install matplotlib``, or the
project's ``test`` extra); without it ``write_plots`` raises ``ConfigError`` saying so.

>>> from rag.eval.plots import PLOT_FILES
>>> PLOT_FILES
('hit_at_k.png', 'f1_by_type.png', 'latency.png')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rag.eval.results import EvalResult

__all__ = [
    "PLOT_FILES",
    "by_type_figure",
    "hit_at_k_figure",
    "latency_figure",
    "write_plots",
]

PLOT_FILES = ("hit_at_k.png", "f1_by_type.png", "latency.png")
LATENCY_STAGES = (
    ("retrieve", "retrieval"),
    ("first_token", "first token"),
    ("total", "full answer"),
)
DPI = 110


def _new_figure(width: float = 6.4, height: float = 4.0) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ConfigError(
            "plots skipped: matplotlib is not installed (pip install matplotlib)"
        ) from err
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _empty(figure: Figure, title: str, message: str) -> Figure:
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return figure


def hit_at_k_figure(hit_curve: Sequence[float], doc_hit_curve: Sequence[float] = ()) -> Figure:
    """hit@k for k = 1..len(hit_curve): gold paragraph, and gold article when given."""
    figure = _new_figure()
    if not hit_curve:
        return _empty(figure, "Retrieval hit@k", "no questions with a gold source")
    ax = figure.add_subplot()
    ks = list(range(1, len(hit_curve) + 1))
    ax.plot(ks, list(hit_curve), marker="o", label="gold paragraph")
    if doc_hit_curve:
        ax.plot(ks, list(doc_hit_curve), marker="s", linestyle="--", label="gold article")
    for k, value in zip(ks, hit_curve, strict=True):
        ax.annotate(
            f"{value:.2f}",
            (k, value),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=8,
        )
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("hit@k")
    ax.set_title("Retrieval hit@k")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figure.tight_layout()
    return figure


def by_type_figure(by_type: dict[str, dict[str, Any]], generate: bool) -> Figure:
    """Mean token F1 (when answers were generated) and hit@5 per question type, with counts."""
    figure = _new_figure(7.2, 4.0)
    if not by_type:
        return _empty(figure, "By question type", "no answerable questions")
    ax = figure.add_subplot()
    types = list(by_type)
    xs = list(range(len(types)))
    series = [("hit@5", "retrieval hit@5")]
    if generate:
        series.insert(0, ("f1", "answer F1"))
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        values = [by_type[t].get(key) or 0.0 for t in types]
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar([x + offset for x in xs], values, width=width, label=label)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{t}\n(n={by_type[t]['n']})" for t in types], fontsize=8)
    ax.set_ylim(0, 1.2)  # headroom for the legend above full bars
    ax.set_ylabel("score")
    title = (
        "F1 and hit@5 by question type"
        if generate
        else "hit@5 by question type (no answers generated)"
    )
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncol=len(series), fontsize=8)
    figure.tight_layout()
    return figure


def latency_figure(timings: Sequence[dict[str, float]]) -> Figure:
    """Histogram of per-question seconds for retrieval, first token and the full answer."""
    figure = _new_figure()
    stages = [(label, [t[key] for t in timings if key in t]) for key, label in LATENCY_STAGES]
    stages = [(label, values) for label, values in stages if values]
    if not stages:
        return _empty(figure, "Latency", "no timings")
    ax = figure.add_subplot()
    upper = max(max(values) for _, values in stages)
    bins = [upper * i / 30 for i in range(31)] if upper > 0 else 10
    for label, values in stages:
        ax.hist(values, bins=bins, alpha=0.55, label=f"{label} (n={len(values)})")
    ax.set_xlabel("seconds")
    ax.set_ylabel("questions")
    ax.set_title("Latency per question")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    figure.tight_layout()
    return figure


def write_plots(result: EvalResult, out_dir: Path) -> list[Path]:
    """Save the three PNGs (``PLOT_FILES``) into ``out_dir``; return their paths."""
    figures = (
        hit_at_k_figure(result.hit_curve, result.doc_hit_curve),
        by_type_figure(result.by_type, result.generate),
        latency_figure([row.timings for row in result.rows]),
    )
    paths = []
    for name, figure in zip(PLOT_FILES, figures, strict=True):
        path = Path(out_dir) / name
        try:
            figure.savefig(path, format="png")
        except OSError as err:
            raise ConfigError(f"{path}: cannot write plot ({err})") from err
        paths.append(path)
    return paths
