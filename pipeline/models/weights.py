"""Where Qwen3-VL weights come from: a local directory, the Hugging Face cache, or a download.

Kept free of torch so that finding out the weights are missing (the reduced mode) costs
no torch import.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)

from pipeline.errors import ModelUnavailable

SUPPORTED_MODEL_TYPES = {"qwen3_vl"}


def resolve_weights(model: str) -> Path:
    """The local checkpoint directory for a model id or directory, or ModelUnavailable saying why not."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return _checked(model, candidate)
    if candidate.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1 or "\\" in model:
        raise ModelUnavailable(model, f"there is no directory {candidate.absolute()}")
    return _checked(model, _from_hub(model))


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The checkpoint's config.json as a dict (cheap: no torch involved)."""
    config: dict[str, Any] = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return config


def _from_hub(model: str) -> Path:
    """The snapshot in the Hugging Face cache, else a download unless HF_HUB_OFFLINE forbids it."""
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except HFValidationError as exc:
        raise ModelUnavailable(model, "it is neither an existing directory nor a Hugging Face model id") from exc
    except LocalEntryNotFoundError as exc:
        if _offline():
            raise ModelUnavailable(
                model, "it is not in the Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading it"
            ) from exc
    try:
        return Path(snapshot_download(model))
    except GatedRepoError as exc:
        raise ModelUnavailable(model, "the Hugging Face Hub gates it: log in with an account that has access") from exc
    except RepositoryNotFoundError as exc:
        raise ModelUnavailable(model, "the Hugging Face Hub has no such model (or it is private)") from exc
    except LocalEntryNotFoundError as exc:
        raise ModelUnavailable(model, "it is not in the Hugging Face cache and the Hub could not be reached") from exc
    except Exception as exc:  # any network or disk failure must end in reduced mode, not a crash
        summary = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelUnavailable(model, f"downloading it failed ({summary})") from exc


def _checked(model: str, path: Path) -> Path:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelUnavailable(model, f"{path} has no config.json")
    try:
        model_type = checkpoint_config(path).get("model_type")
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(model, f"{config_file} is unreadable ({exc})") from exc
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelUnavailable(model, f"{path} holds a {model_type!r} model, not a Qwen3-VL one")
    return path


def _offline() -> bool:
    # Read at call time: huggingface_hub reads the variable once, at import.
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
