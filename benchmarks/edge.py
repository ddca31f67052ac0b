"""``splitrank bench edge``: the agent's local-route latency through the SDK over real gRPC, the split
call's payload and what its compression costs in NDCG@10, on the real test split.

- latency: ``splitrank run-agent --policy local`` in its own process; one SDK client sends the test
  split's histories one after another (after a warm-up); p50 / p99 of the SDK call, the agent's
  own share (its ``total_us``) and a bare grpc.aio echo of the same request bytes, interleaved
  (``local_over_echo`` is the SDK's local-route p50 over the echo's); then ``EdgeRanker`` (the same
  edge step and router, no gRPC) in a child process like an app's, without TensorFlow. The TFLite
  edge step's own p50 in both (``agent_edge_p50_ms``, ``inprocess_edge_p50_ms``) shows what the
  agent's idle waits between requests cost it: the same step is slower in a process that sleeps
  between calls than in one that calls it back to back.
- payload: the split call as the agent sends it (int8 u, compact candidates) and with 4-bit u and
  scores, against the same call carrying float32 u and plain candidate lists (uint32 ids, float32
  scores); and against the same call that differs only in u (``payload_ratio_u_only``).
- codec loss: split NDCG@10 through the cloud reranker with the encoded u and scores, relative to
  float32 u and scores, for every request of the test split.
- privacy: split NDCG@10 with the agent's Gaussian noise on u at a few epsilons.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from benchmarks.echo_server import ECHO_METHOD
from cloud.serving.scoring import ServingModels
from core.codec import FLOAT32, INT4, INT8
from core.edge_step import EdgeResult
from edge.cloud_request import split_request
from protos.v1 import cloud_pb2
from splitrank.client import Client
from splitrank.ports import free_port
from splitrank.processes import ManagedProcess, agent_ready, splitrank_command
from splitrank.reports.replay import Replay, sdk_history


@contextmanager
def agent_process(bundle: Path, *args: str) -> Iterator[tuple[str, str]]:
    """``splitrank run-agent`` in its own process, on TCP and a Unix socket; yields both addresses once it answers."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        socket_path = str(Path(folder) / "agent.sock")
        tcp = f"127.0.0.1:{port}"
        with ManagedProcess(splitrank_command("run-agent", "--repository", str(bundle), "--port", str(port), "--unix-socket", socket_path,
                                              "--log-level", "WARNING", *args), what="the agent") as agent:
            agent.wait_ready(lambda: agent_ready(tcp), timeout_s=60)
            yield tcp, f"unix:{socket_path}"


@contextmanager
def echo_process() -> Iterator[int]:
    """``benchmarks.echo_server`` (a bare grpc.aio echo) in its own process; yields its port."""
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.echo_server"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("READY"):
            raise RuntimeError(f"echo server did not start: {process.stderr.read() if process.stderr else ''}")
        yield int(line.split()[1])
    finally:
        process.terminate()
        process.wait(10)


def local_latency(bundle: Path, requests: list[list[tuple[str, float, float]]], calls: int) -> dict[str, float]:
    """p50 / p99 of SDK calls on the local route over TCP and over the Unix socket, and of a bare grpc.aio echo of the
    same request bytes (the floor any gRPC agent pays on this machine), interleaved; the agent's own time; then
    ``EdgeRanker`` in a process like an app's."""
    times: dict[str, list[float]] = {"tcp": [], "uds": [], "echo": [], "agent": [], "agent_edge": []}
    with agent_process(bundle, "--policy", "local") as (tcp, uds), echo_process() as echo_port, \
            Client(tcp) as over_tcp, Client(uds) as over_uds, grpc.insecure_channel(f"127.0.0.1:{echo_port}") as echo_channel:
        echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = echo_channel.unary_unary(ECHO_METHOD)
        payloads = [over_tcp.build_request(history, k=10).SerializeToString() for history in requests]
        for history in requests[:200]:
            over_tcp.rank(history, k=10, deadline_s=1)
            over_uds.rank(history, k=10, deadline_s=1)
            echo(payloads[0], timeout=1)
        for i in range(calls):
            for name, client in (("tcp", over_tcp), ("uds", over_uds)):
                start = time.perf_counter()
                answer = client.rank(requests[i % len(requests)], k=10, deadline_s=1)
                times[name].append((time.perf_counter() - start) * 1000)
                times["agent"].append(answer.timings.total_us / 1000)
                times["agent_edge"].append(answer.timings.edge_us / 1000)
            start = time.perf_counter()
            echo(payloads[i % len(payloads)], timeout=1)
            times["echo"].append((time.perf_counter() - start) * 1000)
    in_process = in_process_latency(bundle, requests, calls)
    p50 = {name: float(np.percentile(values, 50)) for name, values in times.items()}
    return {"local_p50_ms": p50["tcp"], "local_p99_ms": float(np.percentile(times["tcp"], 99)), "local_uds_p50_ms": p50["uds"],
            "local_uds_p99_ms": float(np.percentile(times["uds"], 99)), "echo_p50_ms": p50["echo"], "local_over_echo": p50["tcp"] / p50["echo"],
            "agent_p50_ms": p50["agent"], "agent_edge_p50_ms": p50["agent_edge"], "inprocess_p50_ms": in_process["p50_ms"],
            "inprocess_p99_ms": in_process["p99_ms"], "inprocess_edge_p50_ms": in_process["edge_p50_ms"], "calls": calls}


def in_process_latency(bundle: Path, requests: list[list[tuple[str, float, float]]], calls: int) -> dict[str, float]:
    """p50 / p99 of ``EdgeRanker.rank`` on the local route, in a child process like an app's (``benchmarks.inprocess``)."""
    job = json.dumps({"bundle": str(bundle), "requests": requests, "calls": calls})
    done = subprocess.run([sys.executable, "-m", "benchmarks.inprocess"], input=job, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"in-process benchmark failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def split_call(u: np.ndarray, ids: np.ndarray, scores: np.ndarray, encoding: int, compact: bool) -> cloud_pb2.RerankRequest:
    """A split call as the agent builds it (the fields the payload depends on); scores 8-bit beside float32 or int8 u."""
    return split_request(EdgeResult(u, ids, scores), k=10, model_version="1", unix_time_s=1_320_000_000, encoding=encoding,
                         score_encoding=INT4 if encoding == INT4 else INT8, compact=compact)


def payload(replayed: Replay) -> dict[str, float]:
    """Mean bytes per split call for each wire form."""
    sizes: dict[str, list[int]] = {"float32": [], "float32_u_compact": [], "int8": [], "int4": []}
    for u, ids, scores in zip(replayed.user_embedding, replayed.candidate_ids, replayed.edge_scores, strict=True):
        sizes["float32"].append(split_call(u, ids, scores, FLOAT32, compact=False).ByteSize())
        sizes["float32_u_compact"].append(split_call(u, ids, scores, FLOAT32, compact=True).ByteSize())
        sizes["int8"].append(split_call(u, ids, scores, INT8, compact=True).ByteSize())
        sizes["int4"].append(split_call(u, ids, scores, INT4, compact=True).ByteSize())
    mean = {name: float(np.mean(values)) for name, values in sizes.items()}
    return {"float32_call_bytes": mean["float32"], "split_call_bytes": mean["int8"], "int4_call_bytes": mean["int4"],
            "payload_ratio": mean["int8"] / mean["float32"], "payload_ratio_int4": mean["int4"] / mean["float32"],
            "payload_ratio_u_only": mean["int8"] / mean["float32_u_compact"]}


def codec_loss(replayed: Replay, cloud: ServingModels) -> dict[str, float]:
    """Relative NDCG@10 loss of the split route with int8 and 4-bit payloads against float32."""

    def ndcg(encoding: int) -> float:  # u and the edge scores sent with the same encoding
        return float(replayed.ndcg(replayed.split_rankings(cloud, encoding, encoding)).mean())

    reference, int8, int4 = ndcg(FLOAT32), ndcg(INT8), ndcg(INT4)
    return {"split_ndcg_float32": reference, "split_ndcg_int8": int8, "split_ndcg_int4": int4,
            "codec_ndcg_loss": (reference - int8) / reference, "codec_ndcg_loss_int4": (reference - int4) / reference}


DP_EPSILONS = (1.0, 4.0, 16.0)


def privacy_cost(replayed: Replay, cloud: ServingModels, *, seed: int = 0) -> dict[str, float]:
    """Split NDCG@10 with the agent's differential-privacy noise on u (default clip norm and delta) at a few epsilons."""
    from edge.privacy import PrivacyConfig, privatize

    rng = np.random.default_rng(seed)
    out = {"dp_clip_norm": PrivacyConfig().clip_norm, "dp_delta": PrivacyConfig().delta,
           "user_embedding_norm_p50": float(np.median(np.linalg.norm(replayed.user_embedding, axis=1)))}
    for epsilon in DP_EPSILONS:
        config = PrivacyConfig(epsilon=epsilon)
        noisy = np.stack([privatize(u, config, rng) for u in replayed.user_embedding])
        rankings = dataclasses.replace(replayed, user_embedding=noisy).split_rankings(cloud, INT8, INT8)
        out[f"split_ndcg_dp_epsilon_{epsilon:g}"] = float(replayed.ndcg(rankings).mean())
    return out


def run_edge_benchmark(bundle: Path, replayed: Replay, cloud: ServingModels, codes: list[str], *, calls: int = 3000,
                       progress: Any = print) -> dict[str, Any]:
    """All three measurements; returns the figures (the JSON of ``--format json``)."""
    progress(f"local route through the SDK, {calls} calls")
    result: dict[str, Any] = {"bundle": str(bundle), **local_latency(bundle, [sdk_history(replayed.examples, row, codes) for row in range(len(replayed.examples))], calls)}
    progress("split payload sizes")
    result.update(payload(replayed))
    progress("split NDCG@10 with float32, int8 and 4-bit payloads")
    result.update(codec_loss(replayed, cloud))
    progress(f"split NDCG@10 with differential-privacy noise on u, epsilon {DP_EPSILONS}")
    result.update(privacy_cost(replayed, cloud))
    return result
