"""What marks a browser test: it drives Debian's Chromium, and is skipped, saying how to install it, where it is
missing."""

from __future__ import annotations

import pytest

from scripts.app_screenshots import CHROMIUM

NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk"
)
