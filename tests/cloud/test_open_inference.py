"""The Open Inference Protocol (KServe v2) over real sockets, called by Triton's own client.

tritonclient registers the same ``inference`` proto package as the server's code, and one process
cannot hold both, so the client runs in its own process, as it would in a user's application.
"""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import numpy as np
import pytest

from protos.kserve import grpc_predict_v2_pb2 as v2
from protos.kserve import grpc_predict_v2_pb2_grpc as v2_grpc
from tests.cloud.server_thread import ServerThread

pytestmark = pytest.mark.slow

TRITON_CLIENT = """
import json, sys
import numpy as np
import tritonclient.grpc as triton

url, user, ids, scores = sys.argv[1], *(np.array(json.loads(a)) for a in sys.argv[2:5])
client = triton.InferenceServerClient(url)
meta = client.get_model_metadata("reranker")
inputs = [triton.InferInput("user_embedding", list(user.shape), "FP32"), triton.InferInput("candidate_ids", list(ids.shape), "INT32"),
          triton.InferInput("edge_scores", list(scores.shape), "FP32")]
for tensor, value in zip(inputs, (user.astype(np.float32), ids.astype(np.int32), scores.astype(np.float32))):
    tensor.set_data_from_numpy(value)
result = client.infer("reranker", inputs, outputs=[triton.InferRequestedOutput("scores")])
try:
    client.infer("no-such-model", inputs)
    unknown = "accepted"
except triton.InferenceServerException as err:
    unknown = err.status()
print(json.dumps({"live": client.is_server_live(), "ready": client.is_server_ready(), "model_ready": client.is_model_ready("reranker"),
                  "versions": list(meta.versions), "inputs": [i.name for i in meta.inputs],
                  "scores": result.as_numpy("scores").tolist(), "unknown_model": unknown}))
"""


def test_triton_client_reranks_like_the_model(server: ServerThread) -> None:
    models = server.running.repository.current
    rng = np.random.default_rng(3)
    ids = np.stack([rng.choice(np.arange(1, models.catalogue_size), 10, replace=False) for _ in range(3)]).astype(np.int32)
    user = rng.normal(size=(3, models.embedding_dim)).astype(np.float32)
    scores = np.sort(rng.normal(size=(3, 10)).astype(np.float32), axis=1)[:, ::-1]
    args = [json.dumps(a.tolist()) for a in (user, ids, scores)]
    done = subprocess.run([sys.executable, "-c", TRITON_CLIENT, f"127.0.0.1:{server.running.port}", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["live"] and answer["ready"] and answer["model_ready"]
    assert answer["versions"] == [models.version]
    assert set(answer["inputs"]) >= {"user_embedding", "candidate_ids", "edge_scores"}
    assert "NOT_FOUND" in answer["unknown_model"]
    direct = models.rerank(user, ids, scores, np.zeros(3))
    np.testing.assert_allclose(np.array(answer["scores"]), direct, rtol=1e-5, atol=1e-5)


def _infer(server: ServerThread, **tensors: tuple[str, np.ndarray]) -> v2.ModelInferResponse:
    stub = v2_grpc.GRPCInferenceServiceStub(server.channel)
    request = v2.ModelInferRequest(model_name="reranker")
    for name, (datatype, value) in tensors.items():
        request.inputs.add(name=name, datatype=datatype, shape=list(value.shape))
        request.raw_input_contents.append(value.tobytes())
    return stub.ModelInfer(request, timeout=10)


@pytest.mark.parametrize(("change", "message"), [
    ({"user_embedding": ("FP32", np.zeros((1, 3), np.float32))}, "dim 3"),
    ({"candidate_ids": ("INT32", np.array([[1, 1]], np.int32))}, "duplicate candidate ids"),
    ({"edge_scores": ("FP32", np.array([[np.nan, 0]], np.float32))}, "NaN"),
    ({"edge_scores": ("INT32", np.array([[0, 0]], np.int32))}, "datatype INT32"),
    ({"extra": ("FP32", np.zeros(1, np.float32))}, "unknown input"),
])
def test_bad_tensors_are_invalid_argument(server: ServerThread, change: dict, message: str) -> None:
    dim = server.running.repository.current.embedding_dim
    tensors = {"user_embedding": ("FP32", np.zeros((1, dim), np.float32)), "candidate_ids": ("INT32", np.array([[1, 2]], np.int32)),
               "edge_scores": ("FP32", np.zeros((1, 2), np.float32)), **change}
    with pytest.raises(grpc.RpcError) as err:
        _infer(server, **tensors)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()
