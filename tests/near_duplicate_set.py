"""A generated near-duplicate evaluation set for moderation matching.

References are the sample product shots, photos and text images (flyers, signs, receipts),
labelled with stand-in policy categories. Positives are transformed copies of each reference
(the issue's six transformations); negatives are the other samples (app screenshots) and
generated images: product-like shots on white, shape collages, gradients with noise, and
text cards. Shared by tests/test_moderation_near_duplicates.py, which asserts the targets,
and bench/moderation.py, which prints the table.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from pipeline.images import ImageLimits, read_image_file
from pipeline.ingest.ingestor import Ingestor
from pipeline.ingest.sources import collect
from pipeline.moderation.library import Reference, add_references, load_references
from pipeline.moderation.matching import NEAR_DUPLICATE, Match, Matcher, Rule
from pipeline.store.lance_engine import LanceStore

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "images"
CATEGORY_BY_PREFIX = {"product_": "counterfeit", "photo_": "violence", "text_": "spam"}
LIMITS = ImageLimits(max_bytes=50_000_000, max_pixels=50_000_000)
GENERATED_UNRELATED = 74
SEED = 6


def category_of(path: Path) -> str | None:
    return next((category for prefix, category in CATEGORY_BY_PREFIX.items() if path.name.startswith(prefix)), None)


def reference_files() -> list[Path]:
    return [path for path in sorted(SAMPLES.iterdir()) if category_of(path)]


class NoOcr:
    """Near-duplicate matching never reads text, so the library is built without OCR's second per image."""

    name = "none"

    def read(self, image: Image.Image) -> str:
        return ""


def build_library(directory: Path) -> list[Reference]:
    """The references ingested into a real LanceDB collection the way `moderate library add` does, then loaded."""
    store = LanceStore(directory, dim=8)
    for category in sorted(set(CATEGORY_BY_PREFIX.values())):
        files = [path for path in reference_files() if category_of(path) == category]
        report = add_references(Ingestor(store, NoOcr(), None, None, LIMITS), collect(files), category)
        assert not report.failures, report.failures
    return load_references(store)


# transformations -------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(10, size))


def resize_half(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)


def jpeg_40(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=40)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def crop_10(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Cut 10% of the width and 10% of the height, split between opposite sides at random."""
    cut_x, cut_y = round(image.width * 0.1), round(image.height * 0.1)
    left, top = int(rng.integers(0, cut_x + 1)), int(rng.integers(0, cut_y + 1))
    return image.crop((left, top, left + image.width - cut_x, top + image.height - cut_y))


def brightness_shift(image: Image.Image) -> Image.Image:
    """Add 40 (of 255) to every channel, clipped: washed-out highlights, as a re-upload with a filter has."""
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + 40, 0, 255).astype(np.uint8))


def text_overlay(image: Image.Image) -> Image.Image:
    """A reposter's caption across the lower part, white with a black outline, a twelfth of the height tall."""
    copy = image.copy()
    size = copy.height // 12
    ImageDraw.Draw(copy).text(
        (copy.width * 0.05, copy.height * 0.78),
        "DM to order - 50% OFF",
        font=_font(size),
        fill=(255, 255, 255),
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
    return copy


def horizontal_flip(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


Transform = Callable[[Image.Image, np.random.Generator], Image.Image]
TRANSFORMS: dict[str, Transform] = {
    "resize 50%": lambda image, rng: resize_half(image),
    "JPEG quality 40": lambda image, rng: jpeg_40(image),
    "crop 10%": crop_10,
    "brightness +40": lambda image, rng: brightness_shift(image),
    "text overlay": lambda image, rng: text_overlay(image),
    "horizontal flip": lambda image, rng: horizontal_flip(image),
}
FLIP = "horizontal flip"


def open_image(path: Path) -> Image.Image:
    return read_image_file(path, max_bytes=LIMITS.max_bytes, max_pixels=LIMITS.max_pixels).image


def transformed_copies(references: Sequence[Reference]) -> list[tuple[str, Reference, Image.Image]]:
    """(transformation, reference, copy) for every reference and transformation, deterministically."""
    rng = np.random.default_rng(SEED)
    copies: list[tuple[str, Reference, Image.Image]] = []
    for reference in references:
        original = open_image(Path(reference.uri))
        copies.extend((name, reference, transform(original, rng)) for name, transform in TRANSFORMS.items())
    return copies


# unrelated images ------------------------------------------------------------------------


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(value) for value in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _product_shot(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (800, 800), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    width, height = int(rng.integers(200, 520)), int(rng.integers(200, 620))
    box = ((800 - width) // 2, (800 - height) // 2, (800 + width) // 2, (800 + height) // 2)
    if rng.random() < 0.5:
        draw.rounded_rectangle(box, radius=int(rng.integers(10, 80)), fill=_colour(rng))
    else:
        draw.ellipse(box, fill=_colour(rng))
    draw.text((box[0] + 20, box[3] - 60), "BRAND", font=_font(32), fill=(255, 255, 255))
    return image


def _collage(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (int(rng.integers(400, 1200)), int(rng.integers(400, 1200))), _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 14))):
        x0, y0 = int(rng.integers(0, image.width)), int(rng.integers(0, image.height))
        x1, y1 = x0 + int(rng.integers(20, image.width // 2)), y0 + int(rng.integers(20, image.height // 2))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=_colour(rng))
    return image


def _gradient(rng: np.random.Generator) -> Image.Image:
    height, width = int(rng.integers(300, 900)), int(rng.integers(300, 900))
    ys, xs = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height + 1) / 2
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    pixels = start + ramp[..., None] * (end - start) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


WORDS = ("sale", "order", "today", "price", "delivery", "account", "support", "team", "weekly", "report", "notes")


def _text_card(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (int(rng.integers(500, 1000)), int(rng.integers(400, 1000))), _colour(rng))
    draw = ImageDraw.Draw(image)
    ink = tuple(255 - value for value in image.getpixel((0, 0)))  # type: ignore[union-attr]
    for line in range(int(rng.integers(3, 9))):
        words = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 6))))
        draw.text(
            (30, 30 + line * 60), words.upper() if line == 0 else words, font=_font(40 if line == 0 else 26), fill=ink
        )
    return image


GENERATORS = (_product_shot, _collage, _gradient, _text_card)


def unrelated_images(generated: int = GENERATED_UNRELATED) -> list[tuple[str, Image.Image]]:
    """The samples that are not references (app screenshots), and `generated` synthetic images."""
    rng = np.random.default_rng(SEED + 1)
    others = [(path.name, open_image(path)) for path in sorted(SAMPLES.iterdir()) if not category_of(path)]
    made = [
        (
            f"generated {GENERATORS[index % len(GENERATORS)].__name__.strip('_')} {index}",
            GENERATORS[index % len(GENERATORS)](rng),
        )
        for index in range(generated)
    ]
    return others + made


# evaluation ------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Detection per transformation (the right reference, by a near-duplicate rule) and false matches."""

    totals: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    detections: list[tuple[str, Match]] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)
    wrong_references: list[tuple[str, str, str]] = field(default_factory=list)
    unrelated: int = 0
    false_matches: list[tuple[str, str]] = field(default_factory=list)

    def detection_rate(self, transform: str | None = None) -> float:
        if transform is None:
            return sum(self.detected.values()) / sum(self.totals.values())
        return self.detected[transform] / self.totals[transform]

    def rules(self, transform: str) -> Counter[Rule]:
        """Which rule found the copies made by one transformation."""
        return Counter(match.rule for name, match in self.detections if name == transform)

    @property
    def false_match_rate(self) -> float:
        return len(self.false_matches) / self.unrelated


def evaluate(
    matcher: Matcher,
    copies: Sequence[tuple[str, Reference, Image.Image]],
    unrelated: Sequence[tuple[str, Image.Image]],
) -> Evaluation:
    """Run the matcher on every copy and unrelated image; only near-duplicate rules count."""
    result = Evaluation(unrelated=len(unrelated))
    for transform, reference, image in copies:
        matches = [match for match in matcher.match(image) if match.rule in NEAR_DUPLICATE]
        result.totals[transform] += 1
        found = [match for match in matches if match.reference_id == reference.id]
        expected = {Rule.PDQ_FLIPPED} if transform == FLIP else NEAR_DUPLICATE - {Rule.PDQ_FLIPPED}
        if found and found[0].rule in expected:
            result.detected[transform] += 1
            result.detections.append((transform, found[0]))
        else:
            result.misses.append((transform, Path(reference.uri).name))
        result.wrong_references.extend(
            (transform, Path(reference.uri).name, Path(match.reference_uri or "").name)
            for match in matches
            if match.reference_id != reference.id
        )
    for name, image in unrelated:
        matches = [match for match in matcher.match(image) if match.rule in NEAR_DUPLICATE]
        if matches:
            result.false_matches.append((name, matches[0].describe()))
    return result
