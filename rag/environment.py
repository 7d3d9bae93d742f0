"""The process environment the Hugging Face libraries read: offline switches and telemetry.

``import rag`` makes the process offline (``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``) unless
``KBQA_OFFLINE`` says otherwise, before any Hugging Face library is imported. Building a
``Settings`` then makes the switches follow its resolved ``offline`` (keyword argument, ``KBQA_*``
variable, ``kbqa.toml``, default), so ``offline = false`` in ``kbqa.toml`` takes effect too. Turning
offline off removes only the switches kbqa itself set: one the user exported stays. A foundation
module: standard library only, so ``import rag`` never loads torch.

>>> import os
>>> apply_hub_env(True); os.environ["HF_HUB_OFFLINE"]
'1'
"""

from __future__ import annotations

import os
import sys

__all__ = ["OFFLINE_VARS", "apply_default_env", "apply_hub_env", "hub_offline_vars_set_by_kbqa"]

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# Names the switches kbqa set, so turning offline off never removes a user's own; an environment
# variable rather than a Python global so that child processes (the app, the file reader) know.
_SET_BY_KBQA = "_KBQA_SET_HUB_OFFLINE"
_FALSE = ("0", "false", "no", "off")


def apply_default_env() -> None:
    """Offline unless ``KBQA_OFFLINE`` is false, and telemetry off: run once, at ``import rag``."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    apply_hub_env(os.environ.get("KBQA_OFFLINE", "true").strip().lower() not in _FALSE)


def hub_offline_vars_set_by_kbqa() -> list[str]:
    return [v for v in os.environ.get(_SET_BY_KBQA, "").split(",") if v in OFFLINE_VARS]


def apply_hub_env(offline: bool) -> None:
    """Make the Hugging Face offline switches say ``offline``, in the environment and in an
    already-imported ``huggingface_hub`` (which reads the environment once, at its import)."""
    ours = set(hub_offline_vars_set_by_kbqa())
    for var in OFFLINE_VARS:
        if offline:
            if os.environ.get(var) != "1":
                os.environ[var] = "1"
                ours.add(var)
        elif var in ours:
            os.environ.pop(var, None)
            ours.discard(var)
    if ours:
        os.environ[_SET_BY_KBQA] = ",".join(sorted(ours))
    else:
        os.environ.pop(_SET_BY_KBQA, None)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        # The same rule huggingface_hub applies at its import.
        value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
        offline_now = value.strip().upper() in {"1", "ON", "YES", "TRUE"}
        constants.HF_HUB_OFFLINE = offline_now  # type: ignore[attr-defined]
