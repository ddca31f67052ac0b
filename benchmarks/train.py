"""``splitrank bench train``: the whole training pipeline on synthetic logs of growing size, each run in
its own ``splitrank train`` process (wall time and peak resident memory of that process), and the edge
step at growing catalogue sizes (``benchmarks.edge_catalogue``).

The logs come from ``cloud.data.synthetic.write_synthetic_log`` (power-law popularity, taste clusters,
with or without repeat purchases). Validation and test are scored on a 5,000-example sample so the
figures measure training, which always uses every example.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from benchmarks.edge_catalogue import run_edge_catalogue_benchmark
from cloud.data.synthetic import write_synthetic_log

SIZES = (500_000, 1_000_000, 2_000_000)
ITEMS = 100_000
EVAL_EXAMPLES = 5000
Variants = Literal["alternate", "both", "with", "without"]
"""Which synthetic logs each size gets: one with and one without repeats (both), one of them alternating from size to
size starting with repeats (alternate), or only one kind."""


def repeat_variants(variants: Variants, position: int) -> tuple[bool, ...]:
    """The repeat settings (True: with repeat purchases) of the ``position``-th size under ``variants``."""
    if variants == "alternate":
        return (position % 2 == 0,)
    return {"both": (True, False), "with": (True,), "without": (False,)}[variants]


def run_train_benchmark(*, sizes: Sequence[int] = SIZES, items: int = ITEMS, repeats: Variants = "alternate",
                        edge_items: Sequence[int] = (10_000, 100_000, 500_000), progress: Callable[[str], None] = print) -> dict[str, Any]:
    """One training run per (size, repeats) and the edge step per catalogue size; returns the JSON figures."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        config = work / "train.toml"
        config.write_text(f"[train]\neval_examples = {EVAL_EXAMPLES}\n")
        for position, interactions in enumerate(sizes):
            for with_repeats in repeat_variants(repeats, position):
                log = write_synthetic_log(work / f"log_{interactions}_{with_repeats}.csv.gz", interactions=interactions, items=items,
                                          repeats=with_repeats)
                progress(f"training on {interactions:,} interactions, {items:,} items, {'with' if with_repeats else 'without'} repeats")
                runs.append({"items": items, "interactions": interactions, "repeats": with_repeats,
                             **_train_run(log, work / f"repo_{interactions}_{with_repeats}", config)})
                progress(f"  {runs[-1]['seconds']:.0f} s, peak {runs[-1]['peak_rss_mb']:.0f} MB")
    edge = run_edge_catalogue_benchmark(edge_items, progress=progress)
    seconds = [r["seconds"] for r in runs]
    return {"runs": runs, "time_ratio_slowest_to_fastest": max(seconds) / max(min(seconds), 1e-9),
            "edge": edge, "edge_p50_us": {str(row["items"]): row["p50_us"] for row in edge if row["format"] == "full_int8"}}


def _train_run(log: Path, repository: Path, config: Path) -> dict[str, Any]:
    """``splitrank train`` on ``log`` in a child process: seconds, its own peak RSS, and what it trained."""
    command = [sys.executable, "-m", "splitrank", "train", "--data", str(log), "--user-col", "user_id", "--item-col", "item_id",
               "--time-col", "timestamp", "--repository", str(repository), "--config", str(config), "--format", "json"]
    start = time.perf_counter()
    with open(repository.with_suffix(".log"), "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    text = repository.with_suffix(".log").read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"splitrank train failed on {log.name}: {text[-2000:]}")
    result = json.loads(text[text.index("{"):])
    manifest = json.loads((Path(result["bundle"]) / "manifest.json").read_text())
    teacher = next(r for r in result["models"] if r["name"] == "teacher")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024.0, "examples": manifest["data"]["examples"],
            "catalogue_size": manifest["data"]["catalogue_size"], "softmax": manifest["models"].get("softmax"),
            "teacher_ndcg_at_10": teacher["ndcg_at_10"]}
