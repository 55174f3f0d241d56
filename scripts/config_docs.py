#!/usr/bin/env python3
"""Write docs/configuration.md from the `Settings` class in pipeline/config.py.

    python scripts/config_docs.py           # (re)write docs/configuration.md
    python scripts/config_docs.py --check   # exit 1 if docs/configuration.md is out of date

tests/test_config_docs.py imports `render` from this file and compares its output
with the committed docs/configuration.md, so the page cannot drift from the code.

The output is deterministic and the same on every machine: a default that comes from
a `default_factory` is shown as the field's `json_schema_extra["doc_default"]` text
when the field gives one (for factories whose value depends on the platform or the
user), else as the factory's value. Table sections come from the `# section` comment
lines that precede groups of fields in the class body (a comment block after a blank
line starts a section); fields before any such comment are listed under "Other".
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import json
import re
import sys
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path, PurePath
from typing import Any

from pydantic import SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
OUT_OF_DATE = "docs/configuration.md is out of date: run python scripts/config_docs.py"
OTHER = "Other"

_NOT_SECTIONS = ("type:", "noqa", "pragma", "fmt:", "isort:", "pyright:", "mypy:")


def _load_settings() -> type:
    try:
        from pipeline.config import Settings
    except ImportError:  # not installed: run from a checkout
        sys.path.insert(0, str(ROOT))
        from pipeline.config import Settings
    return Settings


# ---------------------------------------------------------------- sections


def field_sections(settings_cls: type) -> dict[str, str]:
    """Field name -> section title, from the comment lines that head groups of fields in the class body."""
    try:
        source = textwrap.dedent(inspect.getsource(settings_cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return {}
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    if not classes:
        return {}
    lines = source.splitlines()
    fields = set(getattr(settings_cls, "model_fields", {}))
    sections: dict[str, str] = {}
    current: str | None = None
    previous: ast.stmt | None = None
    for statement in classes[0].body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            name = statement.target.id
            if name in fields:
                start = previous.end_lineno if previous is not None else classes[0].lineno
                after_field = isinstance(previous, ast.AnnAssign)
                heading = _heading(lines[start : statement.lineno - 1], after_field)
                if heading is not None:
                    current = heading
                if current is not None:
                    sections[name] = current
        previous = statement
    return sections


def _heading(gap: list[str], after_field: bool) -> str | None:
    """The last comment block in `gap` that starts a section: one after a blank line (or first, after a non-field)."""
    heading = None
    blank_before = not after_field
    in_block = False
    for line in gap:
        text = line.strip()
        if not text:
            blank_before, in_block = True, False
            continue
        if text.startswith("#"):
            comment = text.lstrip("#").strip()
            if not in_block and blank_before and comment and not comment.lower().startswith(_NOT_SECTIONS):
                heading = comment.rstrip(":").strip()
            in_block = True
        blank_before = False
    if heading:
        return heading[:1].upper() + heading[1:]
    return None


# ---------------------------------------------------------------- cells


def type_name(annotation: Any) -> str:
    """A reader's name for a field type: int, path, one of: a, b, list of strings, optional …"""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        if all(typing.get_origin(arg) is typing.Literal for arg in members):
            inner = _one_of([value for arg in members for value in typing.get_args(arg)])
        else:
            inner = " or ".join(type_name(arg) for arg in members)
        return f"optional {inner}" if len(members) < len(args) else inner
    if origin is typing.Literal:
        return _one_of(args)
    if (
        isinstance(origin, type)
        and issubclass(origin, (Sequence, AbstractSet))
        and not issubclass(origin, (str, bytes))
    ):
        items = [arg for arg in args if arg is not Ellipsis]
        kind = "set" if origin in (set, frozenset) else "list"
        if len(set(items)) == 1:
            return f"{kind} of {_plural(type_name(items[0]))}"
        return kind if not items else f"{kind} of ({', '.join(type_name(arg) for arg in items)})"
    if origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
        if len(args) == 2:
            return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
        return "mapping"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return "bool"
        if issubclass(annotation, enum.Enum):
            return _one_of([member.value for member in annotation])
        if issubclass(annotation, (SecretStr, SecretBytes)):
            return "secret"
        if issubclass(annotation, str):
            return "string"
        if issubclass(annotation, PurePath):
            return "path"
        if issubclass(annotation, (int, float)):
            return "int" if issubclass(annotation, int) else "float"
        if annotation is list:
            return "list"
        if annotation is dict:
            return "mapping"
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _one_of(values: typing.Iterable[Any]) -> str:
    return "one of: " + ", ".join(_scalar(value) for value in values)


def _plural(name: str) -> str:
    if " " in name:
        return f"({name})"
    return name + ("es" if name.endswith("s") else "s")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, (bool, int, float)):
        return _number(value)
    if isinstance(value, enum.Enum):
        return _scalar(value.value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (SecretStr, SecretBytes)):
        return "(hidden)"
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return json.dumps(_jsonable(value), ensure_ascii=False, sort_keys=isinstance(value, dict))
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(_jsonable(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(item) for item in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return _scalar(value)


def default_text(field: FieldInfo, name: str = "") -> str:
    """The default as the table shows it: `code`, "unset" for None, "required", or a field's own doc_default text."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("doc_default") is not None:
        return str(extra["doc_default"])
    if field.default_factory is not None:
        takes_data = getattr(field, "default_factory_takes_data", False)
        value = field.default_factory({}) if takes_data else field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, (SecretStr, SecretBytes)):
        return "(hidden)"
    text = _code(_scalar(value))
    if name.endswith("_bytes") and isinstance(value, int) and not isinstance(value, bool):
        text += _binary_size(value)
    return text


def _binary_size(value: int) -> str:
    """A suffix like ' (50 MiB)' for a whole number of KiB, MiB, GiB or TiB, else ''."""
    for power, unit in ((4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")):
        if value >= 1024**power and value % 1024**power == 0:
            return f" ({value // 1024**power} {unit})"
    return ""


def constraints_text(field: FieldInfo) -> str:
    """ge/gt/le/lt, lengths, multiple_of and pattern from a field's metadata: "≥ 1", "1–65535", "> 0, ≤ 30"."""
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                bounds[name] = value
    parts = []
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low and high and low[0] == "ge" and high[0] == "le":
        parts.append(f"{_number(low[1])}–{_number(high[1])}")
    else:
        if low:
            parts.append(f"{'≥' if low[0] == 'ge' else '>'} {_number(low[1])}")
        if high:
            parts.append(f"{'≤' if high[0] == 'le' else '<'} {_number(high[1])}")
    if "multiple_of" in bounds:
        parts.append(f"multiple of {_number(bounds['multiple_of'])}")
    if "min_length" in bounds and "max_length" in bounds:
        parts.append(f"length {bounds['min_length']}–{bounds['max_length']}")
    elif "min_length" in bounds:
        parts.append(f"length ≥ {bounds['min_length']}")
    elif "max_length" in bounds:
        parts.append(f"length ≤ {bounds['max_length']}")
    if "pattern" in bounds:
        pattern = bounds["pattern"]
        parts.append("matches " + _code(getattr(pattern, "pattern", pattern)))
    return ", ".join(parts)


def env_names(name: str, field: FieldInfo, prefix: str) -> list[str]:
    """The environment variable(s) a field is read from (an alias replaces prefix + name, as in pydantic-settings)."""
    alias = field.validation_alias if field.validation_alias is not None else field.alias
    if isinstance(alias, str):
        return [alias.upper()]
    choices = getattr(alias, "choices", None)
    if choices:
        names = [choice.upper() for choice in choices if isinstance(choice, str)]
        if names:
            return names
    return [f"{prefix}{name}".upper()]


def _code(text: str) -> str:
    if text == "":
        return '`""`'
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    """One line; pipes escaped (GitHub tables honour `\\|` inside code spans too); `<tag` escaped outside code."""
    text = " ".join(str(text).split())
    pieces = re.split(r"(`+[^`]*?`+)", text)
    text = "".join(piece if piece.startswith("`") else re.sub(r"<(?=[A-Za-z/!?])", r"\\<", piece) for piece in pieces)
    return text.replace("|", "\\|")


# ---------------------------------------------------------------- page


def render(settings_cls: type) -> str:
    """The whole of docs/configuration.md for `settings_cls` (a pydantic-settings class)."""
    config = getattr(settings_cls, "model_config", {})
    prefix = str(config.get("env_prefix", "") or "")
    module = sys.modules.get(settings_cls.__module__)
    config_env = getattr(module, "CONFIG_FILE_ENV", f"{prefix}CONFIG")
    fields: dict[str, FieldInfo] = dict(settings_cls.model_fields)
    sections = field_sections(settings_cls)

    groups: dict[str, list[str]] = {}
    for name in fields:
        groups.setdefault(sections.get(name, OTHER), []).append(name)
    if OTHER in groups:
        groups[OTHER] = groups.pop(OTHER)

    secrets = [
        env_names(name, field, prefix)[0]
        for name, field in fields.items()
        if type_name(field.annotation).endswith("secret")
    ]
    first = next(iter(fields), None)

    out = [
        "# Configuration",
        "",
        "> Generated by `scripts/config_docs.py` from `pipeline/config.py`; do not edit. After changing the",
        "> settings run `python scripts/config_docs.py` (a test fails while this page is out of date).",
        "",
        f"Every setting is an environment variable prefixed `{prefix}`. The same settings can also be",
        "given in an optional TOML file, `vlsearch.toml` in the platform's user config folder (Linux:",
        f"`~/.config/vlsearch/vlsearch.toml`) unless `{config_env}` names another, whose keys are the field names in",
        "lower case, without the prefix"
        + (
            f" (`{env_names(first, fields[first], prefix)[0]}` in the environment is `{first}` in the file)."
            if first
            else "."
        ),
        "When a setting is given in more than one place, explicit arguments (in code and tests) win over",
        "the environment, which wins over the TOML file.",
        "",
    ]
    if secrets:
        names = ", ".join(f"`{name}`" for name in secrets)
        out += [
            f"Secrets (type `secret`: {names}) are read only from the environment or the TOML file.",
            "If you put a secret in the TOML file, keep the file private (readable only by the account",
            "that runs vlsearch, e.g. `chmod 600`).",
            "",
        ]
    for title, names in groups.items():
        if len(groups) > 1 or title != OTHER:
            out += [f"## {_cell(title)}", ""]
        out += [
            "| Environment variable | Type | Default | Constraints | Description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name in names:
            field = fields[name]
            cells = [
                " / ".join(f"`{env}`" for env in env_names(name, field, prefix)),
                type_name(field.annotation),
                default_text(field, name),
                constraints_text(field),
                field.description or "",
            ]
            out.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/configuration.md from pipeline/config.py's Settings.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    text = render(_load_settings())
    if args.check:
        try:
            current = DOC.read_text(encoding="utf-8").replace("\r\n", "\n")
        except FileNotFoundError:
            current = None
        if current != text:
            print(OUT_OF_DATE, file=sys.stderr)
            return 1
        print("docs/configuration.md is up to date")
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    with DOC.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    print(f"wrote {DOC.relative_to(ROOT).as_posix() if DOC.is_relative_to(ROOT) else DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
