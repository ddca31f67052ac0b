"""The committed generated code must match the .proto files."""

from __future__ import annotations

from pathlib import Path

import pytest

from protos.generate import ROOT, generate, main, proto_files


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    generate(tmp_path)
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    assert produced, "protoc produced nothing"
    stale = [str(p) for p in produced if not (ROOT / p).is_file() or (ROOT / p).read_bytes() != (tmp_path / p).read_bytes()]
    assert not stale, f"generated code is stale, run `python -m protos.generate`: {stale}"


def test_every_proto_is_versioned() -> None:
    for proto in proto_files():
        text = (ROOT / proto).read_text()
        if proto.parts[:2] == ("protos", "kserve"):  # the Open Inference Protocol keeps its own package
            assert "package inference;" in text, proto
        else:
            assert "package splitrank.v1;" in text, proto
            assert proto.parts[:2] == ("protos", "v1"), proto


def test_help_says_what_it_does_and_generates_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert "usage: python -m protos.generate [-h] [out_dir]" in capsys.readouterr().out
    assert not (ROOT / "--help").exists()
