"""A real uvicorn server on 127.0.0.1 (an ephemeral port) in a thread of the test process, serving the API app;
and what API tests share: tokens per role, small images, the CLI under the server's settings."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner, Result

from pipeline.access.auth import Role
from pipeline.access.tokens import open_tokens
from pipeline.api.app import create_app
from pipeline.cli import app as cli_app
from pipeline.config import Settings

START_TIMEOUT_S = 120.0


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    """The base URL of the API over `settings` until the block ends; the server then shuts down cleanly."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def role_tokens(data_dir: Path) -> dict[Role, str]:
    """One API token per role, named after the role (so its audit rows read "token:<role>"); the secrets."""
    store = open_tokens(data_dir)
    return {role: store.create(role.value, role) for role in Role}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def image_bytes(size: tuple[int, int] = (64, 64), colour: str = "white", text: str = "", fmt: str = "PNG") -> bytes:
    """A small generated image (distinct colours or texts give distinct assets)."""
    image = Image.new("RGB", size, colour)
    if text:
        ImageDraw.Draw(image).text((10, size[1] // 3), text, fill="black", font=ImageFont.load_default(size=32))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment under which the CLI reads the same settings as `settings` (the fields set explicitly)."""
    env = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        env[f"VLSEARCH_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return {**env, "HF_HUB_OFFLINE": "1"}


def cli(settings: Settings, *args: str) -> Result:
    """`python -m pipeline ARGS` in process, under the same settings as the server (typer's CliRunner)."""
    return CliRunner().invoke(cli_app, list(args), env=settings_env(settings), catch_exceptions=False)
