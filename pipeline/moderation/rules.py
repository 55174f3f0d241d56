"""Policy rules: per category, the question the LLM judge is asked, the keywords that flag OCR text, and whether
its images are sensitive (the review desk shows them blurred until the reviewer reveals them).

Read from a TOML file (the shipped moderation_rules.toml, or one under the data dir, or the
file named by VLSEARCH_MODERATION_RULES_FILE). Keywords match case-insensitively after NFKC
normalisation (full-width letters read as ASCII). A keyword in a script written without
spaces (Chinese, Japanese) matches anywhere in the text, whitespace ignored, because OCR puts
spaces between such characters at random and there are no word boundaries to respect. Any
other keyword matches whole words only, so "win" does not fire on "winners" or "window".
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import BadInput

SHIPPED_RULES = Path(__file__).with_name("moderation_rules.toml")
RULES_FILE_NAME = "moderation_rules.toml"
CATEGORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
UNSPACED_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WHITESPACE = re.compile(r"\s+")


def check_category(name: str, source: str) -> str:
    """A policy category name, or a BadInput naming where it came from."""
    if not CATEGORY_NAME.match(name):
        raise BadInput(source, f"policy category {name!r} must be letters, digits, '_' or '-' (at most 64)")
    return name


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Keyword:
    """One keyword, compiled for its script: a whole-word pattern, or (unspaced scripts) a plain substring."""

    text: str
    needle: str
    pattern: re.Pattern[str] | None

    @classmethod
    def parse(cls, text: str) -> Keyword:
        normalised = _normalise(text)
        if UNSPACED_SCRIPT.search(normalised):
            return cls(text, WHITESPACE.sub("", normalised), None)
        words = [re.escape(word) for word in normalised.split()]
        return cls(text, normalised, re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"))

    def found_in(self, spaced: str, unspaced: str) -> bool:
        """`spaced` is the text with unspaced-script characters blanked out; `unspaced` has no whitespace."""
        return self.needle in unspaced if self.pattern is None else self.pattern.search(spaced) is not None


@dataclass(frozen=True)
class Category:
    name: str
    question: str
    keywords: tuple[Keyword, ...] = ()
    sensitive: bool = False  # violent or sexual imagery: blurred on the review desk until revealed


@dataclass(frozen=True)
class KeywordHit:
    category: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class PolicyRules:
    categories: dict[str, Category]
    source: str

    def keyword_hits(self, text: str) -> list[KeywordHit]:
        """Per category, the keywords found in the text (categories without a hit are left out)."""
        normalised = _normalise(text)
        # Blanking Chinese characters makes them word boundaries for Latin keywords ("免费iPhone").
        spaced = UNSPACED_SCRIPT.sub(" ", normalised)
        unspaced = WHITESPACE.sub("", normalised)
        hits = []
        for category in self.categories.values():
            found = tuple(keyword.text for keyword in category.keywords if keyword.found_in(spaced, unspaced))
            if found:
                hits.append(KeywordHit(category.name, found))
        return hits

    def is_sensitive(self, categories: Iterable[str]) -> bool:
        """Whether any of these categories is marked sensitive (a category the rules do not name is not)."""
        return any(self.categories[name].sensitive for name in categories if name in self.categories)

    def question(self, category: str) -> str:
        known = self.categories.get(category)
        return known.question if known else f"Does this image show {category} content?"


def rules_path(configured: Path | None, data_dir: Path) -> Path:
    """The configured file, else moderation_rules.toml under the data dir if there is one, else the shipped rules."""
    if configured is not None:
        return configured
    local = data_dir / RULES_FILE_NAME
    return local if local.is_file() else SHIPPED_RULES


def load_rules(path: Path) -> PolicyRules:
    """Parse and check a rules file; every problem is a BadInput naming the file and the entry."""
    source = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BadInput(source, "moderation rules file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(source, f"cannot read the moderation rules: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise BadInput(source, f"not valid TOML: {error}") from error
    tables = document.get("categories")
    if not isinstance(tables, dict) or not tables:
        raise BadInput(source, "needs at least one [categories.NAME] table")
    return PolicyRules({name: _category(source, name, table) for name, table in tables.items()}, source)


def _category(source: str, name: str, table: object) -> Category:
    where = f"{source} [categories.{name}]"
    check_category(name, where)
    if not isinstance(table, dict):
        raise BadInput(where, "must be a table with 'question' and 'keywords'")
    unknown = sorted(set(table) - {"question", "keywords", "sensitive"})
    if unknown:
        raise BadInput(where, f"unknown key(s) {', '.join(unknown)} (allowed: question, keywords, sensitive)")
    question = table.get("question", "")
    keywords = table.get("keywords", [])
    if not isinstance(question, str) or not question.strip():
        raise BadInput(where, "'question' must be a non-empty string (the policy question the judge answers)")
    if not isinstance(keywords, list) or not all(isinstance(word, str) and word.strip() for word in keywords):
        raise BadInput(where, "'keywords' must be a list of non-empty strings")
    sensitive = table.get("sensitive", False)
    if not isinstance(sensitive, bool):
        raise BadInput(where, f"'sensitive' must be true or false, not {sensitive!r}")
    return Category(name, question.strip(), tuple(Keyword.parse(word.strip()) for word in keywords), sensitive)
