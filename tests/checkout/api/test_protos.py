"""The committed generated protobuf/gRPC code is what ``make protos`` would generate now (no stale code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROTO_DIRS = ("checkout/protos", "pipelines/protos")


def test_the_committed_generated_code_matches_the_protos(tmp_path: Path):
    root = Path(settings.BASE_DIR)
    protos = sorted(str(p.relative_to(root)) for d in PROTO_DIRS for p in (root / d).glob("*.proto"))
    assert "checkout/protos/orders.proto" in protos
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            *protos,
        ],
        cwd=root,
        check=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc generated nothing"
    stale = [
        str(p) for p in generated if not (root / p).exists() or (root / p).read_bytes() != (tmp_path / p).read_bytes()
    ]
    assert not stale, f"stale generated code (run 'make protos' and commit): {stale}"
