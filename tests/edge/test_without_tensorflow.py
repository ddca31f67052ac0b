"""A device installs only the [edge] extra: the edge step must run with TensorFlow impossible to import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"tensorflow", "keras", "cloud", "pandas", "tf_keras"}:
                raise ImportError(f"{name} is blocked: devices do not have it")
            return None
    sys.meta_path.insert(0, Block())
    """
)


@pytest.mark.slow
def test_edge_step_runs_without_tensorflow(tiny_bundle: Path) -> None:
    script = BLOCKER + textwrap.dedent(
        f"""
        import numpy as np
        from core.bundle import load_manifest
        from core.edge_step import EdgeStep
        bundle = {str(tiny_bundle)!r}
        load_manifest(__import__("pathlib").Path(bundle))
        step = EdgeStep(bundle + "/edge/student_full_int8.tflite")
        hist = np.zeros(step.history_len, np.int32); hist[0] = 1
        result = step.run(hist, np.ones(step.history_len, np.float32), np.ones(step.history_len, np.float32),
                          np.zeros(step.context_dim, np.float32), np.load(bundle + "/edge/prior.npy"))
        try:
            import tensorflow
        except ImportError:
            pass
        else:
            raise SystemExit("tensorflow was importable")
        assert "tensorflow" not in sys.modules and "cloud" not in sys.modules
        print(step.runtime, len(result.candidate_ids))
        """
    )
    result = subprocess.run([sys.executable, "-c", "import sys\n" + script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    runtime, count = result.stdout.split()
    assert runtime == "ai_edge_litert" and int(count) > 0


def test_interpreter_loader_reports_every_runtime_failure(tmp_path: Path) -> None:
    from core.edge_step import EdgeRuntimeError, load_interpreter

    broken = tmp_path / "truncated.tflite"
    broken.write_bytes(b"TFL3" + b"\0" * 10)
    with pytest.raises(EdgeRuntimeError, match="ai_edge_litert"):
        load_interpreter(broken)
    with pytest.raises(EdgeRuntimeError, match=r"no_such_runtime\.interpreter: not usable"):
        load_interpreter(broken, runtimes=("no_such_runtime.interpreter",))


@pytest.mark.slow
def test_agent_and_sdk_serve_without_tensorflow(tiny_bundle: Path) -> None:
    script = BLOCKER + textwrap.dedent(
        f"""
        import asyncio
        from edge.server import AgentSettings, start_agent
        from splitrank.client import AsyncClient
        import devices.device, devices.manager  # the fleet client runs inside the agent

        async def main():
            running = await start_agent(AgentSettings(repository={str(tiny_bundle)!r}, port=0, policy="learned"))
            async with AsyncClient(f"127.0.0.1:{{running.port}}") as client:
                ranking = await client.rank([], k=5, deadline_s=5)
            await running.stop()
            return ranking

        ranking = asyncio.run(main())
        assert "tensorflow" not in sys.modules and "cloud" not in sys.modules and "keras" not in sys.modules
        print(ranking.route, len(ranking.item_ids), ranking.degraded)
        """
    )
    result = subprocess.run([sys.executable, "-c", "import sys\n" + script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["local", "5", "False"]  # learned with no cloud configured: local by design, not degraded
