"""The processes a bench starts keep their local state (``TPFGO_VAR_DIR``) outside the checkout, in a temporary
folder of the bench's own that is gone once the bench exits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.ingest_harness import ROOT

PRINT_VAR_DIR = (
    "import os\n"
    "from bench.ingest_harness import base_env\n"
    "folder = base_env('sqlite://')['TPFGO_VAR_DIR']\n"
    "print(folder, os.path.isdir(folder))\n"
)


def test_the_started_processes_var_dir_is_a_temporary_folder_outside_the_checkout_removed_when_the_bench_exits():
    done = subprocess.run(
        [sys.executable, "-c", PRINT_VAR_DIR], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    folder, existed = done.stdout.split()

    assert not Path(folder).resolve().is_relative_to(ROOT)
    assert existed == "True"
    assert not Path(folder).exists()
