"""Crop-tolerant near-duplicate check: ORB keypoints matched to each reference and verified geometrically.

Used by moderation (an upload against known-bad references) and by search (an image query against the
candidates pipeline/store/visual_words.py finds).

PDQ hashes the whole frame, so cutting 5% off each side of a sample image moves its hash
50-130 bits, far past the threshold of 31; a large caption over the picture often does too.
Keypoints survive both: an upload matches a reference when enough of its ORB features pair
with the reference's (ratio test) and agree on one similarity transform (RANSAC) with a
plausible scale and rotation. On the evaluation set (bench/moderation.py) unrelated images,
text-heavy ones included, reach at most 10 agreeing pairs; 10% crops and captioned copies
mostly keep 40 or more, the weakest (a plain bar-chart slide, cut 10%) 22-25, against a
threshold of 20.

Both sides are compared at thumbnail size (the references' stored 256 px JPEG), which keeps
features cheap: about 2 ms to extract per image. Matching is a brute-force pass over the
references, about 1.5 ms per reference per upload on a 2-core CPU: fine for a few thousand
references; beyond that turn it off (VLSEARCH_MODERATION_KEYPOINTS=false) and rely on PDQ
and the vector rule, or put the descriptors in an LSH index.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

MIN_INLIERS = 20
RATIO = 0.85
REPROJECTION_PX = 3.0
SCALE_RANGE = (0.5, 2.0)
MAX_ROTATION_DEG = 10.0
MIN_FEATURES = 8
MIN_TRANSFORM_PAIRS = 3


@dataclass(frozen=True)
class Features:
    points: NDArray[np.float32]
    descriptors: NDArray[np.uint8]


def _detector() -> cv2.ORB:
    # Small patches so that 256 px thumbnails still yield a few hundred features.
    return cv2.ORB.create(nfeatures=500, fastThreshold=10, edgeThreshold=15, patchSize=15)


def features(thumbnail_jpeg: bytes) -> Features | None:
    """ORB features of a thumbnail; None when the picture is too plain to have enough of them."""
    grey = np.asarray(Image.open(io.BytesIO(thumbnail_jpeg)).convert("L"))
    keypoints, descriptors = _detector().detectAndCompute(grey, None)
    if descriptors is None or len(keypoints) < MIN_FEATURES:
        return None
    return Features(np.array([point.pt for point in keypoints], dtype=np.float32), np.asarray(descriptors, np.uint8))


def agreeing_pairs(upload: Features, reference: Features, matcher: cv2.DescriptorMatcher, at_least: int = 0) -> int:
    """How many feature pairs agree on one plausible similarity transform from the upload to the reference.

    0 when fewer than `at_least` pairs pass the ratio test: the geometric check could not reach that many.
    """
    candidates = matcher.knnMatch(upload.descriptors, reference.descriptors, k=2)
    good = [pair[0] for pair in candidates if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance]
    if len(good) < max(at_least, MIN_TRANSFORM_PAIRS):
        return 0
    source = upload.points[[match.queryIdx for match in good]]
    target = reference.points[[match.trainIdx for match in good]]
    transform, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PX
    )
    if transform is None or inliers is None:
        return 0
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    rotation = abs(float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0]))))
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1] or rotation > MAX_ROTATION_DEG:
        return 0
    return int(inliers.sum())


class KeypointIndex:
    """Reference features extracted once; `matches` verifies an upload against every reference."""

    def __init__(self, thumbnails: Sequence[bytes], min_inliers: int = MIN_INLIERS) -> None:
        self.min_inliers = min_inliers
        self._references = [features(thumbnail) if thumbnail else None for thumbnail in thumbnails]
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)

    def matches(self, thumbnail_jpeg: bytes) -> list[tuple[int, int]]:
        """(row, agreeing pairs) of the references the upload contains or is contained in, most pairs first."""
        upload = features(thumbnail_jpeg)
        if upload is None:
            return []
        found = []
        for row, reference in enumerate(self._references):
            if reference is None:
                continue
            pairs = agreeing_pairs(upload, reference, self._matcher, self.min_inliers)
            if pairs >= self.min_inliers:
                found.append((row, pairs))
        return sorted(found, key=lambda pair: (-pair[1], pair[0]))
