"""Atheris: manifest files (JSONL and CSV) through read_manifest; only BadInput may come out.

.venv/bin/python fuzz/fuzz_manifest.py -atheris_runs=100000
"""

import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
with atheris.instrument_imports():
    from pipeline.errors import BadInput
    from pipeline.ingest.sources import read_manifest

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-manifest-"))


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    manifest = FOLDER / ("manifest.csv" if provider.ConsumeBool() else "manifest.jsonl")
    manifest.write_bytes(provider.ConsumeBytes(4096))
    try:
        collected = read_manifest(manifest)
    except BadInput:
        return
    for problem in collected.problems:
        assert problem.source and problem.reason, problem


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
