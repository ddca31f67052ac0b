"""Child process of ``splitrank bench edge``: ``EdgeRanker`` on the local route in a process like an app's
(no TensorFlow, no benchmark servers beside it). Reads ``{"bundle", "requests", "calls"}`` as JSON on
stdin (requests: histories as [item_id, age_days, count] lists), prints ``{"p50_ms", "p99_ms", "edge_p50_ms"}`` (edge: the TFLite step's own time)."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from splitrank.inprocess import EdgeRanker

WARM_UP = 200


def main() -> None:
    job = json.load(sys.stdin)
    requests = [[(str(i), float(a), float(c)) for i, a, c in history] for history in job["requests"]]
    times, edge = [], []
    with EdgeRanker(job["bundle"], policy="local") as ranker:
        for history in requests[:WARM_UP]:
            ranker.rank(history, k=10, deadline_s=1)
        for n in range(int(job["calls"])):
            started = time.perf_counter()
            ranking = ranker.rank(requests[n % len(requests)], k=10, deadline_s=1)
            times.append((time.perf_counter() - started) * 1000)
            edge.append(ranking.timings.edge_us / 1000)
    print(json.dumps({"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "edge_p50_ms": float(np.percentile(edge, 50))}))


if __name__ == "__main__":
    main()
