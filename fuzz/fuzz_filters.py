"""Atheris: filter expressions through the parser and a real LanceStore; only BadInput may come out.

.venv/bin/python fuzz/fuzz_filters.py -atheris_runs=100000
"""

import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
with atheris.instrument_imports():
    from pipeline.errors import BadInput
    from pipeline.store.lance_engine import LanceStore

STORE = LanceStore(Path(tempfile.mkdtemp(prefix="fuzz-filters-")), dim=8)


def test_one_input(data: bytes) -> None:
    expression = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(200)
    try:
        STORE.count(where=expression)
    except BadInput:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
