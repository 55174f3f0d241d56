"""Atheris: arbitrary bytes through decode_image (Pillow behind a format whitelist); only BadInput may come out.

    .venv/bin/python fuzz/fuzz_images.py -atheris_runs=100000 [CORPUS_DIR]

Seed a corpus folder with small valid images of each format to reach past the headers quickly.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
with atheris.instrument_imports():
    from pipeline.errors import BadInput
    from pipeline.images import decode_image


def test_one_input(data: bytes) -> None:
    try:
        decode_image(data, "fuzzed", max_pixels=4_000_000)
    except BadInput:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
