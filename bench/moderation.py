"""Moderation near-duplicate matching: detection rate per transformation and false-match rate.

    python bench/moderation.py [--generated 74]

The evaluation set is tests/near_duplicate_set.py: 19 reference samples (product shots,
photos, text images) in a real LanceDB library, six transformed copies of each, and the 26
other samples plus generated images as unrelated uploads. Matching runs twice, with PDQ alone
(threshold 31, mirrored upload for flips) and with PDQ + keypoints (the default), and the
table shows which rule found each copy. Also times one PDQ lookup over a million hashes.

Prints figures; asserts nothing (tests/test_moderation_near_duplicates.py asserts the targets).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.images import pdq_hash, thumbnail_jpeg  # noqa: E402
from pipeline.keypoints import MIN_INLIERS, KeypointIndex  # noqa: E402
from pipeline.moderation.matching import KeypointRule, Matcher, MatchRule, PdqRule, Rule  # noqa: E402
from pipeline.pdq_index import PdqIndex  # noqa: E402
from tests.near_duplicate_set import (  # noqa: E402
    TRANSFORMS,
    Evaluation,
    build_library,
    evaluate,
    transformed_copies,
    unrelated_images,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generated", type=int, default=74, help="generated unrelated images")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        references = build_library(Path(directory))
    copies = transformed_copies(references)
    unrelated = unrelated_images(args.generated)
    print(f"{len(references)} references, {len(copies)} transformed copies, {len(unrelated)} unrelated images\n")

    configurations: dict[str, list[MatchRule]] = {
        "PDQ": [PdqRule(references)],
        "PDQ + keypoints": [PdqRule(references), KeypointRule(references)],
    }
    runs: dict[str, tuple[Evaluation, float]] = {}
    for name, rules in configurations.items():
        start = time.perf_counter()
        evaluation = evaluate(Matcher(rules), copies, unrelated)
        per_upload_ms = (time.perf_counter() - start) / (len(copies) + len(unrelated)) * 1000
        runs[name] = (evaluation, per_upload_ms)

    print(f"{'transformation':<18}" + "".join(f"{name:>18}" for name in runs) + "   found by (PDQ + keypoints)")
    default = runs["PDQ + keypoints"][0]
    for transform in TRANSFORMS:
        rates = "".join(f"{evaluation.detection_rate(transform):>18.1%}" for evaluation, _ in runs.values())
        found_by = ", ".join(f"{rule} {count}" for rule, count in sorted(default.rules(transform).items()))
        print(f"{transform:<18}{rates}   {found_by}")
    print(f"{'all copies':<18}" + "".join(f"{evaluation.detection_rate():>18.1%}" for evaluation, _ in runs.values()))
    print(
        f"{'false matches':<18}" + "".join(f"{evaluation.false_match_rate:>18.1%}" for evaluation, _ in runs.values())
    )
    print(f"{'ms per upload':<18}" + "".join(f"{ms:>18.0f}" for _, ms in runs.values()))
    for transform, reference in default.misses:
        print(f"  missed: {transform} of {reference}")
    for image, match in default.false_matches:
        print(f"  false match: {image} -> {match}")
    for transform, reference, other in default.wrong_references:
        print(f"  wrong reference: {transform} of {reference} -> {other}")

    print("\nmargins")
    for rule, pick, label in ((Rule.PDQ, max, "largest distance"), (Rule.KEYPOINTS, min, "fewest agreeing keypoints")):
        scores = [match.score for _, match in default.detections if match.rule == rule]
        print(f"  copies found by {rule}: {label} {pick(scores):g}")
    pdq_index = PdqIndex([reference.pdq for reference in references])
    keypoints = KeypointIndex([reference.thumbnail for reference in references], min_inliers=0)
    nearest = min(
        int(pdq_index.distances(pdq_hash(picture)[0]).min())
        for _, image in unrelated
        for picture in (image, ImageOps.mirror(image))
    )
    most = max((pairs for _, image in unrelated for _, pairs in keypoints.matches(thumbnail_jpeg(image))), default=0)
    print(
        f"  unrelated images: nearest PDQ distance {nearest} (threshold 31), "
        f"most agreeing keypoints {most} (threshold {MIN_INLIERS})"
    )

    rng = np.random.default_rng(0)
    hashes = [row.tobytes().hex() for row in rng.integers(0, 256, (1_000_000, 32), dtype=np.uint8)]
    index = PdqIndex(hashes)
    start = time.perf_counter()
    index.within(hashes[0], 31)
    print(f"\nPDQ lookup over {len(index):,} reference hashes: {(time.perf_counter() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
