"""Which in-process generator backend, and how many threads, answer fastest on this machine.

``llm_backend = "auto"`` with a packaged model that both in-process backends can run
(transformers and llama.cpp) decides by measurement, once per machine and model: each installed
backend reads a short prompt and decodes a few tokens at each candidate thread count (1, the
physical cores, all cores), best of ``REPEATS`` short runs so that a busy moment does not decide,
and the pair with the shortest predicted answer time wins (``Measurement.seconds``: the typical
passages-and-question prompt read plus a two-sentence answer decoded). The result is cached in
``<model_cache_dir>/probe/`` under a key of the CPU model, cores, library versions, the model and
``PROBE_VERSION``; any change of those is a new key, so a new probe. ``kbqa models`` shows it.

An explicit setting always wins: ``llm_backend`` other than ``auto`` is never probed, and
``torch_threads`` fixes the thread count (the probe then measures only that count).

The measurement itself is a function ``measure(backend, threads) -> Measurement`` (one short
run), injected, so the choice, the cache and its key are tested with fake timings; the real one,
over the loaded chat models, is ``rag.llm.probing`` (this module loads no backend).

>>> m = [Measurement("transformers", 2, 200.0, 6.0), Measurement("llamacpp", 2, 160.0, 24.0)]
>>> choose(m).backend
'llamacpp'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.settings import Settings

log = logging.getLogger(__name__)

PROBE_VERSION = 1  # bump when what is measured or how it is scored changes
IN_PROCESS = ("transformers", "llamacpp")
REPEATS = 3  # best of this many short runs per backend and thread count
HOPELESS = 3.0  # a pair this many times slower than the best after one round is not repeated
# The answer the choice optimises: the passages and question of a chain prompt (the system
# prompt is reused, rag.llm), then a complete two-sentence answer.
TYPICAL_PROMPT_TOKENS = 400
TYPICAL_ANSWER_TOKENS = 60
# What one probe run reads and writes (short, so the whole probe takes seconds).
PROBE_PROMPT_WORDS = 90
PROBE_NEW_TOKENS = 12
LIBRARIES = ("torch", "transformers", "xllamacpp")


@dataclass(frozen=True)
class Measurement:
    """One backend at one thread count: prompt tokens read and answer tokens written per second."""

    backend: str
    threads: int
    prompt_tps: float
    decode_tps: float

    def seconds(
        self, prompt_tokens: int = TYPICAL_PROMPT_TOKENS, answer_tokens: int = TYPICAL_ANSWER_TOKENS
    ) -> float:
        """Predicted time to a complete answer: the prompt read, then the answer decoded."""
        return prompt_tokens / max(self.prompt_tps, 1e-9) + answer_tokens / max(
            self.decode_tps, 1e-9
        )


@dataclass
class ProbeResult:
    """The choice, what it was chosen from, and the key it is cached under."""

    backend: str
    threads: int
    measurements: list[Measurement]
    key: dict[str, Any]
    probed_at: str = ""
    probe_seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  # backend -> why it was not measured

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "measurements": [asdict(m) for m in self.measurements]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(**{**data, "measurements": [Measurement(**m) for m in data["measurements"]]})

    def summary(self) -> str:
        """One line for ``kbqa models``."""
        parts = [
            f"{m.backend}×{m.threads}: prompt {m.prompt_tps:.0f} tok/s, decode {m.decode_tps:.1f}"
            f" tok/s, ~{m.seconds():.1f} s an answer"
            for m in sorted(self.measurements, key=Measurement.seconds)
        ]
        parts += [f"{b}: {why}" for b, why in self.skipped.items()]
        return (
            f"chose {self.backend} with {self.threads} threads (measured {self.probed_at},"
            f" {self.probe_seconds:.0f} s): " + "; ".join(parts)
        )


# --------------------------------------------------------------------------------------------
# The machine and the key
# --------------------------------------------------------------------------------------------


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo (``lscpu``'s Model name), or the platform's."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    """The vector extensions that decide kernel speed (AVX2, AVX-512, AMX), as /proc/cpuinfo says."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return sorted(f for f in flags if re.match(r"(avx|amx|fma|f16c)", f))
    return []


def cores() -> int:
    """CPUs this process may run on (a container's or taskset's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def physical_cores(cpuinfo: str | None = None) -> int:
    """Cores without SMT siblings, when /proc/cpuinfo tells (else all CPUs)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return cores()
    pairs = set()
    physical = core = None
    for line in cpuinfo.splitlines():
        if line.startswith("physical id"):
            physical = line.split(":", 1)[1].strip()
        elif line.startswith("core id"):
            core = line.split(":", 1)[1].strip()
        elif not line.strip() and core is not None:
            pairs.add((physical, core))
            physical = core = None
    if core is not None:
        pairs.add((physical, core))
    return min(len(pairs), cores()) if pairs else cores()


def thread_candidates(n_cores: int, n_physical: int | None = None) -> list[int]:
    """1, the physical cores and all CPUs: the thread counts worth a measurement.

    >>> thread_candidates(2), thread_candidates(16, 8), thread_candidates(1)
    ([1, 2], [1, 8, 16], [1])
    """
    return sorted({1, n_physical or n_cores, n_cores})


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def model_identity(settings: Settings) -> str:
    """The model as the key sees it: a packaged alias with its checksum, or a path and size."""
    from rag import registry

    spec = registry.GENERATORS.get(settings.llm_model)
    if spec is not None:
        return f"{spec.alias}@{spec.sha256[:12]}"
    path = Path(settings.llm_model).expanduser()
    if path.exists():
        stat = path.stat()
        return f"{path.resolve()}@{stat.st_size}:{int(stat.st_mtime)}"
    return settings.llm_model


def probe_key(settings: Settings, cpuinfo: str | None = None) -> dict[str, Any]:
    """Everything a measurement depends on; a change in any of it asks for a new probe."""
    return {
        "probe_version": PROBE_VERSION,
        "cpu": cpu_model(cpuinfo),
        "flags": cpu_flags(cpuinfo),
        "cores": cores(),
        "threads": settings.torch_threads,  # an explicit thread count is measured alone
        "libraries": library_versions(),
        "model": model_identity(settings),
    }


def cache_file(cache_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(key["model"]).split("@")[0])[-40:]
    return cache_dir / "probe" / f"{name}-{digest}.json"


def load_cached(cache_dir: Path, key: dict[str, Any]) -> ProbeResult | None:
    """The probe result stored for exactly this key, or None (absent, unreadable, another key)."""
    path = cache_file(cache_dir, key)
    try:
        result = ProbeResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return result if result.key == key else None


def save(cache_dir: Path, result: ProbeResult) -> Path:
    path = cache_file(cache_dir, result.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1))
    os.replace(tmp, path)  # readers see the old file or the whole new one
    return path


# --------------------------------------------------------------------------------------------
# Measuring and choosing
# --------------------------------------------------------------------------------------------

Measure = Callable[[str, int], Measurement]


def best_of(runs: list[Measurement]) -> Measurement:
    """The fastest prompt reading and the fastest decoding seen: noise only ever slows a run."""
    return Measurement(
        runs[0].backend,
        runs[0].threads,
        max(r.prompt_tps for r in runs),
        max(r.decode_tps for r in runs),
    )


def choose(measurements: list[Measurement]) -> Measurement:
    """The backend and thread count with the shortest predicted answer (fewer threads on a tie)."""
    if not measurements:
        raise ValueError("nothing was measured")
    return min(measurements, key=lambda m: (round(m.seconds(), 2), m.threads))


def run_probe(
    backends: list[str], threads: list[int], measure: Measure, repeats: int = REPEATS
) -> list[Measurement]:
    """Best of ``repeats`` runs for every backend and thread count, in rounds (every pair once,
    then again), so a busy moment slows runs of several pairs rather than all runs of one.

    After the first round a pair predicted more than ``HOPELESS`` times slower than the best is
    not measured again: noise does not make a run that much faster, and the probe stays short.
    """
    pairs = [(b, n) for b in backends for n in threads]
    runs: dict[tuple[str, int], list[Measurement]] = {p: [] for p in pairs}
    for round_ in range(repeats):
        best = min((best_of(r).seconds() for r in runs.values() if r), default=None)
        for pair in pairs:
            if round_ and best is not None and best_of(runs[pair]).seconds() > HOPELESS * best:
                continue
            runs[pair].append(measure(*pair))
    return [best_of(runs[p]) for p in pairs]


def probe(
    settings: Settings,
    backends: list[str],
    measure: Measure,
    *,
    skipped: dict[str, str] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ProbeResult:
    """Measure ``backends`` at the candidate thread counts, choose, and cache the result."""
    started = clock()
    threads = (
        [settings.torch_threads]
        if settings.torch_threads
        else thread_candidates(cores(), physical_cores())
    )
    measured = run_probe(backends, threads, measure)
    best = choose(measured)
    result = ProbeResult(
        backend=best.backend,
        threads=best.threads,
        measurements=measured,
        key=probe_key(settings),
        probed_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        probe_seconds=round(clock() - started, 1),
        skipped=dict(skipped or {}),
    )
    save(settings.cache_dir, result)
    log.info("backend probe: %s", result.summary())
    return result


def cached_choice(settings: Settings) -> ProbeResult | None:
    """This machine's stored probe for the configured model, without measuring anything."""
    return load_cached(settings.cache_dir, probe_key(settings))


def threads_for(settings: Settings, backend: str) -> int | None:
    """The thread count a stored probe found fastest for ``backend`` (None: never measured)."""
    result = cached_choice(settings)
    if result is None:
        return None
    runs = [m for m in result.measurements if m.backend == backend]
    return choose(runs).threads if runs else None


# --------------------------------------------------------------------------------------------
# The real measurement: the chat models themselves, a short prompt, a few new tokens
# --------------------------------------------------------------------------------------------

_WORDS = (
    "the archive keeps letters maps and reports from the river towns where traders met each"
    " spring to settle prices for grain salt and wool before the roads closed"
).split()


def probe_prompt(run: int) -> str:
    """A prompt of ``PROBE_PROMPT_WORDS`` words that differs from the previous run's at its start,
    so no run reuses another's prompt cache."""
    words = [_WORDS[(run * 7 + i) % len(_WORDS)] for i in range(PROBE_PROMPT_WORDS)]
    return f"Note {run}: " + " ".join(words) + "\nSummarise the note."


def time_chat(chat: Any, run: int, clock: Callable[[], float] = time.perf_counter) -> tuple:
    """Stream one probe prompt through ``chat`` (greedy, no prompt reuse): (prompt tokens,
    new tokens, seconds to the first token, seconds after it)."""
    from langchain_core.messages import HumanMessage

    messages = [HumanMessage(probe_prompt(run))]
    n_prompt = chat.count_tokens(chat.render(messages))
    started = clock()
    first = None
    n_new = 0
    for chunk in chat.stream(
        messages, max_new_tokens=PROBE_NEW_TOKENS, temperature=0.0, prompt_reuse=False
    ):
        if chunk.content and first is None:
            first = clock()
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            n_new = int(usage.get("output_tokens") or 0)
    end = clock()
    first = first or end
    return n_prompt, n_new, first - started, end - first


def available_memory() -> int:
    """MemAvailable in bytes (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------------------------
# Which generator the hardware calls for (docs/benchmarks.md, "Issue 16": the ladder)
# --------------------------------------------------------------------------------------------

SMALL_MODEL, LARGE_MODEL = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"


def recommended_generator(
    n_cores: int, memory_bytes: int, gpu: bool, installed: Iterable[str]
) -> tuple[str, str]:
    """The packaged generator this hardware answers with in reasonable time, and why.

    The 1.5B model answers better but reads and decodes about 2.5x slower than the 0.5B on the
    same cores (measured on 2 cores, bench/ladder.py): worth it with a GPU, or with 8 or more
    cores and 8 GB of free memory; below that, the 0.5B. ``KBQA_LLM_MODEL`` always wins.

    >>> recommended_generator(2, 24 * 2**30, False, [LARGE_MODEL])[0]
    'qwen2.5-coder-0.5b'
    >>> recommended_generator(16, 64 * 2**30, False, [LARGE_MODEL])[0]
    'qwen2.5-coder-1.5b'
    >>> recommended_generator(16, 64 * 2**30, True, [])[0]  # not installed: never recommended
    'qwen2.5-coder-0.5b'
    """
    if LARGE_MODEL in set(installed):
        if gpu:
            return LARGE_MODEL, "a GPU is available"
        if n_cores >= 8 and memory_bytes >= 8 * 2**30:
            return LARGE_MODEL, f"{n_cores} cores and {memory_bytes / 2**30:.0f} GiB free"
        return SMALL_MODEL, (
            f"{n_cores} cores, {memory_bytes / 2**30:.0f} GiB free: the 1.5B needs 8+ cores and"
            " 8 GiB (or a GPU) to answer in seconds"
        )
    return SMALL_MODEL, f"{LARGE_MODEL} is not installed"


def gpu_available() -> bool:
    """True when torch would see a CUDA GPU: an NVIDIA device is present and torch is not the CPU
    build. Cheap: torch is asked only when already imported."""
    import sys

    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    gpus = Path("/proc/driver/nvidia/gpus")
    if not (gpus.is_dir() and any(gpus.iterdir())):
        return False
    torch_version = library_versions(["torch"])["torch"]
    return torch_version != "not installed" and "+cpu" not in torch_version
