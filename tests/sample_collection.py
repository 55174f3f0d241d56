"""A handful of the bundled samples ingested in OCR + keyword mode, for the app and browser tests.

Two PayFlow tickets (the right one for tests/data/query_screens/SUP-1042.jpg and a look-alike
with another error code), a Chinese login ticket and a receipt that is not a ticket: enough
for search, filters and the lookup's confident / not confident cases at ~1 s of OCR each.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings
from pipeline.ingest.ingestor import Outcome
from pipeline.ingest.sources import collect, read_manifest
from pipeline.services import build_services

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
QUERY_SCREENS = ROOT / "tests" / "data" / "query_screens"
TICKETS = ("SUP-1042", "SUP-1392", "SUP-1057")
RECEIPT = SAMPLES / "images" / "text_receipt_grocery.png"
REDUCED_MODE_ENV = {"VLSEARCH_MODELS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}


def ingest_samples(data_dir: Path) -> Path:
    """Ingest the tickets above and the receipt, with their manifest metadata, into data_dir."""
    wanted = [
        item
        for item in read_manifest(SAMPLES / "manifest.jsonl").items
        if item.metadata.get("ticket_id") in TICKETS or Path(item.uri) == RECEIPT
    ]
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    report = services.ingestor().ingest(wanted)
    assert report.count(Outcome.ADDED) == len(TICKETS) + 1, report.failures
    return data_dir


def ingest_all_samples(data_dir: Path) -> Path:
    """Every sample with its manifest metadata, then the customers' screenshots of eight tickets beside them (no
    metadata): what the Insights page groups as near-identical. About 2 minutes of OCR on two cores."""
    services = build_services(Settings(data_dir=data_dir, models_enabled=False))
    for items in (read_manifest(SAMPLES / "manifest.jsonl").items, collect(sorted(QUERY_SCREENS.glob("*.jpg"))).items):
        report = services.ingestor().ingest(items)
        assert report.count(Outcome.ADDED) == len(items), report.failures
    services.close()
    return data_dir
