"""``splitrank bench fuzz``: hostile bytes against the running services, over real sockets.

Every unary method of the cloud server (``splitrank.v1.CloudRanker``, the KServe v2
``inference.GRPCInferenceService``, ``grpc.health.v1.Health/Check``) and of the agent
(``splitrank.v1.EdgeAgent``) gets hypothesis-made payloads: random bytes, truncated or bit-flipped
encodings, trailing garbage, and valid messages with absurd values (NaN and infinities, extreme and
negative numbers, unknown enum values, huge repeated fields). Bytes that do not parse must be answered
INVALID_ARGUMENT; a message that parses gets an answer from the method's declared set. A crash is an
UNKNOWN or INTERNAL answer, no answer within the call's timeout, or a lost connection; afterwards each
service must still pass its health check and answer a valid request. The tests run the same harness,
derandomized in CI (the ``ci`` hypothesis profile), with ``SPLITRANK_FUZZ_EXAMPLES`` for longer runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bundle import load_manifest
from core.codec import INT8, encode
from protos.kserve import grpc_predict_v2_pb2 as v2
from protos.v1 import agent_pb2, cloud_pb2
from splitrank.client import Client
from splitrank.ports import free_port

OK, INVALID, NOT_FOUND = grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
CRASH_CODES = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                         grpc.StatusCode.CANCELLED})
"""Answers that mean the service broke (or hung) on an input rather than judging it."""
HUGE_REPEATS = 20_000
CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FuzzTarget:
    """One gRPC method, its request message, and the codes a request that parses may get."""

    method: str
    request: type[Message]
    allowed: frozenset[grpc.StatusCode]


CLOUD_TARGETS = (
    FuzzTarget("/splitrank.v1.CloudRanker/Rerank", cloud_pb2.RerankRequest, frozenset({OK, INVALID, NOT_FOUND})),  # NOT_FOUND: pinned version
    FuzzTarget("/splitrank.v1.CloudRanker/RankFull", cloud_pb2.FullRankRequest, frozenset({OK, INVALID, NOT_FOUND})),
    FuzzTarget("/inference.GRPCInferenceService/ModelInfer", v2.ModelInferRequest, frozenset({OK, INVALID, NOT_FOUND})),  # NOT_FOUND: model
    FuzzTarget("/inference.GRPCInferenceService/ModelMetadata", v2.ModelMetadataRequest, frozenset({OK, NOT_FOUND})),
    FuzzTarget("/inference.GRPCInferenceService/ModelReady", v2.ModelReadyRequest, frozenset({OK})),
    FuzzTarget("/inference.GRPCInferenceService/ServerReady", v2.ServerReadyRequest, frozenset({OK})),
    FuzzTarget("/inference.GRPCInferenceService/ServerLive", v2.ServerLiveRequest, frozenset({OK})),
    FuzzTarget("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest, frozenset({OK, NOT_FOUND})),  # NOT_FOUND: unknown service
)
AGENT_TARGETS = (
    FuzzTarget("/splitrank.v1.EdgeAgent/Rank", agent_pb2.RankRequest, frozenset({OK, INVALID})),
    FuzzTarget("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest, frozenset({OK, NOT_FOUND})),
)

_FLOAT32 = st.floats(width=32) | st.sampled_from([float("nan"), float("inf"), -float("inf"), 3.4e38, -3.4e38, 1e-45])
_FLOAT64 = st.floats() | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1.7e308, -1.7e308])


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high) | st.sampled_from([low, high, 0, -1 if low < 0 else 1])


_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_DOUBLE: _FLOAT64, FieldDescriptor.TYPE_FLOAT: _FLOAT32, FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_STRING: st.text(max_size=40), FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
    **dict.fromkeys((FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32), _ints(-(2**31), 2**31 - 1)),
    **dict.fromkeys((FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64), _ints(-(2**63), 2**63 - 1)),
    **dict.fromkeys((FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32), _ints(0, 2**32 - 1)),
    **dict.fromkeys((FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64), _ints(0, 2**64 - 1)),
}


Hints = dict[str, st.SearchStrategy[str]]
"""Strings that string fields of these names also take (a catalogue's item codes, the model's name), so fuzzing gets past name
lookups into the value checks behind them."""
KSERVE_HINTS: Hints = {"model_name": st.just("reranker"), "model_version": st.sampled_from(["", "1"]), "version": st.sampled_from(["", "1"]),
                       "name": st.sampled_from(["reranker", "user_embedding", "candidate_ids", "edge_scores",
                                                                                   "unix_time_s"]),
                       "datatype": st.sampled_from(["FP32", "INT32", "UINT32", "INT64", "BYTES"])}


def _value(field: FieldDescriptor, depth: int, hints: Hints) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        return messages(field.message_type, depth + 1, hints)
    if field.type == FieldDescriptor.TYPE_STRING and field.name in hints:
        return hints[field.name] | _SCALARS[field.type]
    if field.type == FieldDescriptor.TYPE_ENUM:  # proto3 enums are open: unknown numbers are valid wire values
        assert field.enum_type is not None
        return st.sampled_from([v.number for v in field.enum_type.values]) | st.integers(-(2**31), 2**31 - 1)
    return _SCALARS[field.type]


def _field(field: FieldDescriptor, depth: int, hints: Hints) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(_value(key, depth, hints), _value(value, depth, hints), max_size=4)
    if field.is_repeated:
        one = _value(field, depth, hints)
        if depth:  # huge lists at the top level only, so every payload stays under gRPC's 4 MiB message limit
            return st.lists(one, max_size=8)
        huge = HUGE_REPEATS if field.type != FieldDescriptor.TYPE_MESSAGE else HUGE_REPEATS // 10
        return st.lists(one, max_size=8) | one.map(lambda item: [item] * huge)
    return _value(field, depth, hints)


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def messages(descriptor: Descriptor, depth: int = 0, hints: Hints | None = None) -> st.SearchStrategy[Message]:
    """Valid messages of any type, each field absent or holding an extreme, odd or huge value."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields = {field.name: _field(field, depth, hints or {}) for field in descriptor.fields}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, values))


def hostile_payloads(request: type[Message], hints: Hints | None = None) -> st.SearchStrategy[bytes]:
    """Bytes a hostile or broken client might send for ``request``: most do not parse, the rest parse into absurd values."""
    descriptor: Descriptor = request.DESCRIPTOR  # type: ignore[assignment]  # upb's Descriptor class at run time
    encoded: st.SearchStrategy[bytes] = messages(descriptor, hints=hints).map(lambda message: message.SerializeToString())

    def flip(data: bytes, position: int, bit: int) -> bytes:
        if not data:
            return b"\x80"
        out = bytearray(data)
        out[position % len(out)] ^= 1 << bit
        return bytes(out)

    return st.one_of(
        st.binary(max_size=512),
        encoded,
        st.tuples(encoded, st.floats(0, 1)).map(lambda pair: pair[0][: int(len(pair[0]) * pair[1])]),  # truncated
        st.tuples(encoded, st.binary(min_size=1, max_size=16)).map(lambda pair: pair[0] + pair[1]),  # trailing garbage
        st.tuples(encoded, st.integers(0, 2**20), st.integers(0, 7)).map(lambda triple: flip(*triple)),  # one bit flipped
    )


def parses(request: type[Message], payload: bytes) -> bool:
    """Whether ``payload`` is a valid encoding of ``request``."""
    try:
        request.FromString(payload)
    except DecodeError:
        return False
    return True


def fuzz_method(channel: grpc.Channel, target: FuzzTarget, examples: int, hints: Hints | None = None) -> dict[str, Any]:
    """Send ``examples`` hostile payloads to one method; what came back, tallied."""
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(target.method)
    codes: Counter[str] = Counter()
    tally: Counter[str] = Counter()
    samples: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(payload=hostile_payloads(target.request, hints))
    def send(payload: bytes) -> None:
        decodable = parses(target.request, payload)
        try:
            call(payload, timeout=CALL_TIMEOUT_S)
            code = OK
        except grpc.RpcError as err:
            code = err.code()
            if code in CRASH_CODES and len(samples) < 3:
                samples.append(f"{code.name}: {err.details()}")
        tally["inputs"] += 1
        tally["undecodable"] += not decodable
        codes[code.name] += 1
        tally["crashes"] += code in CRASH_CODES
        tally["unexpected"] += code != INVALID if not decodable else code not in target.allowed

    send()
    return {"method": target.method, "inputs": tally["inputs"], "undecodable": tally["undecodable"], "codes": dict(codes),
            "crashes": tally["crashes"], "unexpected_codes": tally["unexpected"], "crash_samples": samples}


def health_serving(channel: grpc.Channel) -> bool:
    """grpc.health.v1 says SERVING."""
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                response_deserializer=health_pb2.HealthCheckResponse.FromString)
    try:
        return bool(check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S).status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def valid_rerank(bundle: Path) -> cloud_pb2.RerankRequest:
    """A split call the bundle's reranker must answer."""
    student = load_manifest(bundle).models["student"]
    ids = list(range(1, min(int(student["candidates"]), int(student["n_items"]) - 1) + 1))
    return cloud_pb2.RerankRequest(user_embedding=encode(np.full(int(student["dim"]), 0.1), INT8).to_proto(), candidate_ids=ids,
                                   edge_scores=[0.0] * len(ids), k=min(5, len(ids)))


def fuzz_services(cloud_address: str, agent_address: str, bundle: Path, examples: int,
                  progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Fuzz every target of a running cloud server and agent, then check both still serve."""
    codes = json.loads((bundle / "catalogue.json").read_text())["codes"][1:]
    hints = {**KSERVE_HINTS, "item_id": st.sampled_from(codes[:200])}
    rows = []
    with grpc.insecure_channel(cloud_address) as cloud, grpc.insecure_channel(agent_address) as agent:
        for channel, targets, who in ((cloud, CLOUD_TARGETS, "cloud"), (agent, AGENT_TARGETS, "agent")):
            for target in targets:
                progress(f"{who} {target.method}: {examples} examples")
                rows.append({"service": who, **fuzz_method(channel, target, examples, hints)})
        rerank = cloud.unary_unary("/splitrank.v1.CloudRanker/Rerank", request_serializer=cloud_pb2.RerankRequest.SerializeToString,
                                   response_deserializer=cloud_pb2.CloudRankResponse.FromString)
        try:
            cloud_answers = len(rerank(valid_rerank(bundle), timeout=CALL_TIMEOUT_S).item_ids) > 0
        except grpc.RpcError:
            cloud_answers = False
        cloud_serving = health_serving(cloud) and cloud_answers
        agent_serving = health_serving(agent)
    with Client(agent_address) as client:
        agent_serving = agent_serving and len(client.rank([], k=5, deadline_s=CALL_TIMEOUT_S).item_ids) == 5
    return {"examples_per_method": examples, "methods": rows, "inputs": sum(r["inputs"] for r in rows),
            "crashes": sum(r["crashes"] for r in rows), "unexpected_codes": sum(r["unexpected_codes"] for r in rows),
            "cloud_serving_after": cloud_serving, "agent_serving_after": agent_serving}


def examples_from_env(default: int) -> int:
    """``SPLITRANK_FUZZ_EXAMPLES`` when set (longer runs), else ``default``."""
    return int(os.environ.get("SPLITRANK_FUZZ_EXAMPLES", default))


@contextlib.contextmanager
def _process(what: str, port: int, *args: str) -> Iterator[str]:
    """A ``splitrank`` command in its own process; yields its address once its health check says SERVING."""
    process = subprocess.Popen([sys.executable, "-m", "splitrank.cli", *args, "--port", str(port), "--log-level", "WARNING"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    address = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(address) as channel:
            deadline = time.monotonic() + 180
            while not health_serving(channel):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"{what} did not start: {(process.stderr.read() if process.stderr else '')[-2000:]}")
                time.sleep(0.2)
        yield address
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited during the fuzz run with code {process.returncode}")
    finally:
        process.terminate()
        process.wait(20)


def run_fuzz_benchmark(bundle: Path, *, examples: int, progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Start ``splitrank serve-cloud`` and ``splitrank run-agent`` (routing to that cloud) and fuzz both."""
    repository = bundle.parent
    with _process("serve-cloud", free_port(), "serve-cloud", "--repository", str(repository)) as cloud, \
            _process("run-agent", free_port(), "run-agent", "--repository", str(bundle), "--cloud", f"c0={cloud}") as agent:
        return fuzz_services(cloud, agent, bundle, examples, progress)
