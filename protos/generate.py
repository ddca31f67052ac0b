"""Regenerate the Python code of every .proto under protos/ (run from anywhere: ``python -m protos.generate``)."""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> None:
    """``python -m protos.generate [OUT_DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m protos.generate", description=__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, default=ROOT,
                        help="where the generated code goes, mirroring the repository layout (default: the repository root)")
    generate(parser.parse_args(argv).out_dir)


if __name__ == "__main__":
    main()
