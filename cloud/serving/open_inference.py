"""The Open Inference Protocol (KServe v2 gRPC) beside splitrank's own API, so Triton and KServe
clients (``tritonclient[grpc]``, KServe's InferenceServerClient) can call the split reranker.

Model ``reranker``; inputs (any number of rows B, K' <= K candidates per row):
``user_embedding`` FP32 [B, dim], ``candidate_ids`` INT32 / UINT32 / INT64 [B, K'], ``edge_scores`` FP32 [B, K']
and, optional, ``unix_time_s`` INT64 [B]. Output ``scores`` FP32 [B, K']: the reranker's score of each
candidate, in input order (the client sorts). Rows go through the same validation, dynamic batcher and
admission control as ``splitrank.v1.CloudRanker/Rerank``, with the same status codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc
import numpy as np

from cloud.serving.scoring import ServingModels
from cloud.serving.service import CloudRankerService, Refusal, refusal_for
from cloud.serving.validation import RerankInput, validate_rerank
from core.codec import FLOAT32, encode
from core.errors import InvalidRequest
from protos.kserve import grpc_predict_v2_pb2 as v2
from protos.kserve import grpc_predict_v2_pb2_grpc as v2_grpc
from protos.v1 import cloud_pb2

MODEL_NAME = "reranker"
PLATFORM = "splitrank_tensorflow"
_DTYPES = {"FP32": np.dtype("<f4"), "INT32": np.dtype("<i4"), "UINT32": np.dtype("<u4"), "INT64": np.dtype("<i8")}
_CONTENTS = {"FP32": "fp32_contents", "INT32": "int_contents", "UINT32": "uint_contents", "INT64": "int64_contents"}
_ACCEPTED = {"user_embedding": ("FP32",), "candidate_ids": ("INT32", "UINT32", "INT64"), "edge_scores": ("FP32",), "unix_time_s": ("INT64",)}


def _tensor_metadata(name: str, datatype: str, shape: Sequence[int]) -> v2.ModelMetadataResponse.TensorMetadata:
    return v2.ModelMetadataResponse.TensorMetadata(name=name, datatype=datatype, shape=list(shape))


def read_inputs(request: v2.ModelInferRequest) -> dict[str, np.ndarray]:
    """The request's tensors by name, from raw_input_contents or typed contents; raises InvalidRequest."""
    if request.raw_input_contents and len(request.raw_input_contents) != len(request.inputs):
        raise InvalidRequest(f"{len(request.raw_input_contents)} raw_input_contents for {len(request.inputs)} inputs")
    tensors: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        if tensor.name not in _ACCEPTED:
            raise InvalidRequest(f"unknown input {tensor.name!r}; model {MODEL_NAME} takes {sorted(_ACCEPTED)}")
        if tensor.datatype not in _ACCEPTED[tensor.name]:
            raise InvalidRequest(f"input {tensor.name} has datatype {tensor.datatype}, expected one of {list(_ACCEPTED[tensor.name])}")
        shape = tuple(int(d) for d in tensor.shape)
        if any(d < 0 for d in shape):
            raise InvalidRequest(f"input {tensor.name} has a negative dimension in shape {list(shape)}")
        dtype = _DTYPES[tensor.datatype]
        if request.raw_input_contents:
            raw = request.raw_input_contents[index]
            if len(raw) != dtype.itemsize * int(np.prod(shape)):
                raise InvalidRequest(f"input {tensor.name} of shape {list(shape)} and type {tensor.datatype} needs "
                                     f"{dtype.itemsize * int(np.prod(shape))} bytes, got {len(raw)}")
            values = np.frombuffer(raw, dtype)
        else:
            values = np.asarray(getattr(tensor.contents, _CONTENTS[tensor.datatype]), dtype)
            if values.size != int(np.prod(shape)):
                raise InvalidRequest(f"input {tensor.name} of shape {list(shape)} has {values.size} values")
        tensors[tensor.name] = values.reshape(shape)
    missing = sorted({"user_embedding", "candidate_ids", "edge_scores"} - tensors.keys())
    if missing:
        raise InvalidRequest(f"missing inputs {missing}")
    return tensors


def split_rows(tensors: dict[str, np.ndarray], models: ServingModels, max_bytes: int) -> list[RerankInput]:
    """One split call per row, validated as the splitrank API validates it; raises InvalidRequest."""
    user, ids, scores = tensors["user_embedding"], tensors["candidate_ids"], tensors["edge_scores"]
    if user.ndim != 2 or ids.ndim != 2 or scores.ndim != 2:
        raise InvalidRequest("user_embedding, candidate_ids and edge_scores must be 2-D [batch, ...]")
    rows = user.shape[0]
    times = tensors.get("unix_time_s", np.zeros(rows, np.int64)).reshape(-1)
    if not (ids.shape[0] == scores.shape[0] == times.shape[0] == rows):
        raise InvalidRequest(f"inputs disagree on the batch size: {user.shape[0]}, {ids.shape[0]}, {scores.shape[0]}, {times.shape[0]}")
    if rows == 0:
        raise InvalidRequest("empty batch")
    if (ids < 0).any() or (ids > np.iinfo(np.uint32).max).any():
        raise InvalidRequest("candidate_ids must be catalogue indices >= 1")
    items = []
    for row in range(rows):
        request = cloud_pb2.RerankRequest(user_embedding=encode(user[row], FLOAT32).to_proto(), candidate_ids=ids[row].tolist(),
                                          edge_scores=scores[row].tolist(), k=ids.shape[1], unix_time_s=int(times[row]))
        try:
            items.append(validate_rerank(request, models, max_bytes=max_bytes))
        except InvalidRequest as err:
            raise InvalidRequest(f"row {row}: {err}") from None
    return items


class OpenInferenceService(v2_grpc.GRPCInferenceServiceServicer):
    """KServe v2 health, metadata and inference for the reranker of a running CloudRankerService."""

    def __init__(self, ranker: CloudRankerService) -> None:
        self.ranker = ranker

    def _ready(self, version: str = "") -> bool:
        return not self.ranker.draining and bool(self.ranker.repository.loaded_versions) and (
            not version or version in self.ranker.repository.loaded_versions)

    async def ServerLive(self, request: v2.ServerLiveRequest, context: grpc.aio.ServicerContext) -> v2.ServerLiveResponse:
        """The process is up."""
        return v2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: v2.ServerReadyRequest, context: grpc.aio.ServicerContext) -> v2.ServerReadyResponse:
        """A model version is loaded and the server is not draining."""
        return v2.ServerReadyResponse(ready=self._ready())

    async def ModelReady(self, request: v2.ModelReadyRequest, context: grpc.aio.ServicerContext) -> v2.ModelReadyResponse:
        """The reranker (at the asked version, when one is asked) can serve."""
        return v2.ModelReadyResponse(ready=request.name == MODEL_NAME and self._ready(request.version))

    async def ModelMetadata(self, request: v2.ModelMetadataRequest, context: grpc.aio.ServicerContext) -> v2.ModelMetadataResponse:
        """Names, datatypes and shapes of the reranker's tensors (-1: any size)."""
        if request.name != MODEL_NAME:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {request.name!r}; this server has {MODEL_NAME!r}")
        try:
            models = self.ranker.repository.get(request.version)
        except KeyError as err:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(err.args[0]))
        return v2.ModelMetadataResponse(
            name=MODEL_NAME, versions=self.ranker.repository.loaded_versions, platform=PLATFORM,
            inputs=[_tensor_metadata("user_embedding", "FP32", (-1, models.embedding_dim)),
                    _tensor_metadata("candidate_ids", "INT32", (-1, -1)), _tensor_metadata("edge_scores", "FP32", (-1, -1)),
                    _tensor_metadata("unix_time_s", "INT64", (-1,))],
            outputs=[_tensor_metadata("scores", "FP32", (-1, -1))])

    async def ModelInfer(self, request: v2.ModelInferRequest, context: grpc.aio.ServicerContext) -> v2.ModelInferResponse:
        """Rerank every row; the rows join the dynamic batcher with every other call."""
        metrics, method = self.ranker.metrics, "ModelInfer"
        try:
            if request.model_name != MODEL_NAME:
                raise Refusal(grpc.StatusCode.NOT_FOUND, f"unknown model {request.model_name!r}; this server has {MODEL_NAME!r}")
            models, deadline = self.ranker.admit(context, request.model_version)
            try:
                items = split_rows(read_inputs(request), models, self.ranker.max_request_bytes)
            except InvalidRequest as err:
                raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from None
            batcher = self.ranker.rerank_batcher
            results = await asyncio.gather(*(batcher.submit_timed(item, deadline=deadline) for item in items), return_exceptions=True)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise refusal_for(failed) if isinstance(failed, Exception) else failed
        except Refusal as refusal:
            metrics.count(method, refusal.code.name)
            await refusal.abort(context)
        scores = np.stack([np.asarray(timed.output, np.float32) for timed in results])  # type: ignore[union-attr]
        metrics.count(method, "OK")
        return v2.ModelInferResponse(
            model_name=MODEL_NAME, model_version=models.version, id=request.id,
            outputs=[v2.ModelInferResponse.InferOutputTensor(name="scores", datatype="FP32", shape=list(scores.shape))],
            raw_output_contents=[scores.astype("<f4").tobytes()])
