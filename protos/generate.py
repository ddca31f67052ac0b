"""Regenerate the Python code of every .proto under protos/ (run from anywhere: ``python -m protos.generate``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def proto_files() -> list[Path]:
    """Every .proto file of the contracts, relative to the repository root."""
    return sorted(p.relative_to(ROOT) for p in (ROOT / "protos").rglob("*.proto"))


def generate(out_dir: Path = ROOT) -> None:
    """Run protoc (from grpcio-tools) into ``out_dir``, which mirrors the repository layout.

    protoc runs in its own process: loaded beside TensorFlow, its bundled protobuf crashes.
    """
    args = [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", *(str(p) for p in proto_files())]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed with exit code {result.returncode}: {result.stderr}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
