"""What one eval run measured (``EvalResult``, saved as results.json) and where it ran.

>>> sorted(machine_info())[:3]
['cpu_count', 'machine', 'platform']
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.eval.gold import GOLD_RULE
from rag.eval.scoring import EvalRow

__all__ = ["DATASET_KINDS", "EvalResult", "machine_info"]

DATASET_KINDS = ("articles", "folder", "questions")
"""How the knowledge base was made: articles written out with some held out, a dev-set folder
ingested as it is, or questions asked of an existing knowledge base."""


@dataclass
class EvalResult:
    """Everything one ``run_eval`` measured; ``to_dict`` is what results.json holds."""

    dataset: str
    dataset_name: str
    generate: bool
    depth: int  # passages ranked per question for the retrieval metrics
    metrics: dict[str, float | None]
    hit_curve: list[float]
    doc_hit_curve: list[float]
    by_type: dict[str, dict[str, Any]]
    latency: dict[str, dict[str, float]]
    counts: dict[str, int]
    settings: dict[str, Any]
    knowledge_base: dict[str, Any]
    machine: dict[str, Any]
    rows: list[EvalRow]
    started_at: str
    seconds: float
    seed: int = 0
    limit: int | None = None
    command: str | None = None
    gold_rule: str = GOLD_RULE
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # the targets-table rows
    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset_kind: str = "articles"  # one of DATASET_KINDS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: OS, CPU, Python and torch threads."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")  # only when already loaded: never import it just for this
    if torch is not None:
        info["torch"] = getattr(torch, "__version__", "?")
        info["torch_threads"] = torch.get_num_threads()
    return info
