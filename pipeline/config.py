"""Settings: environment variables prefixed VLSEARCH_, optionally a TOML file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "VLSEARCH_CONFIG"
DOMAIN_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class Settings(BaseSettings):
    """Everything a deployment can tune. Field names map to VLSEARCH_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="VLSEARCH_", extra="ignore")

    # store
    data_dir: Path = Path("data")
    store: Literal["lancedb", "weaviate"] = "lancedb"
    collection: str = Field("assets", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    weaviate_url: str | None = None
    weaviate_api_key: SecretStr | None = None
    weaviate_grpc_port: int | None = Field(None, ge=1, le=65535, description="gRPC port on the Weaviate host; 50051")
    weaviate_timeout_s: float = Field(30.0, gt=0, description="per-query timeout")
    weaviate_ready_timeout_s: float = Field(30.0, ge=0, description="how long to wait for Weaviate at startup")
    weaviate_schema_file: Path | None = Field(None, description="collection definition; weaviate/collection.toml")
    weaviate_quantization: Literal["none", "rq", "sq", "pq", "bq"] | None = None
    weaviate_replication_factor: int | None = Field(None, ge=1)
    weaviate_shards: int | None = Field(None, ge=1)
    ann_min_rows: int = Field(10_000, ge=256, description="build the ANN index once the table is this large")

    # models (Hugging Face id or local directory)
    models_enabled: bool = Field(True, description="false forces the OCR + keyword mode")
    embed_model: str = "Qwen/Qwen3-VL-Embedding-2B"
    caption_model: str = "Qwen/Qwen3-VL-2B-Instruct"
    rerank_model: str = "Qwen/Qwen3-VL-Reranker-2B"
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    embed_dim: int = Field(2048, ge=32, description="Matryoshka truncation of the embedding")
    model_batch_size: int = Field(4, ge=1)
    model_max_pixels: int = Field(1280 * 32 * 32, ge=32 * 32, description="image pixels fed to the model")
    caption_language: str = "English"
    caption_max_new_tokens: int = Field(64, ge=1)

    # rerank
    rerank: bool | None = Field(
        None, description="rerank by default; unset = only when the reranker runs on a GPU (seconds per pair on CPU)"
    )
    rerank_depth: int = Field(20, ge=1, le=200, description="how many fused hits are reranked")
    rerank_batch_size: int = Field(4, ge=1, description="query-document pairs per forward pass")
    rerank_max_pixels: int = Field(448 * 448, ge=32 * 32, description="document image pixels fed to the reranker")
    rerank_budget_s: float = Field(20.0, gt=0, description="time allowed for reranking one query")
    min_relevance: float | None = Field(None, ge=0.0, le=1.0, description="drop reranked hits below this probability")

    # images
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(89_478_485, ge=1, description="decompression-bomb limit")
    thumbnail_px: int = Field(256, ge=32, le=256)

    # documents and videos (each page or sampled frame becomes an asset)
    max_media_bytes: int = Field(2 * 1024**3, ge=1, description="largest PDF or video file read from disk")
    pdf_max_pages: int = Field(1000, ge=1, description="pages after this are not ingested (and reported)")
    pdf_render_dpi: int = Field(150, ge=36, le=600, description="resolution pages are rendered at")
    pdf_min_text_chars: int = Field(
        20, ge=0, description="a page whose text layer has fewer characters is OCR'd instead"
    )
    video_fps: float = Field(1.0, gt=0, le=30, description="frames sampled per second of video")
    video_scene_threshold: float = Field(
        0.25, ge=0, le=1, description="also sample a frame that differs this much from the last one (0 = off)"
    )
    video_max_frames: int = Field(3600, ge=1, description="frames sampled per video at most")
    video_window_s: float = Field(3.0, gt=0, description="length of the time window a video hit reports")

    # URLs (manifest rows and ingest arguments)
    url_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="when set, only these hosts (and their subdomains) are fetched; comma-separated or a JSON list",
    )
    url_max_bytes: int = Field(200 * 1024 * 1024, ge=1, description="largest body fetched from a URL")
    url_timeout_s: float = Field(30.0, gt=0, description="time allowed for one URL, connect to last byte")
    url_allow_loopback: bool = Field(
        False, description="tests only: let URLs reach 127.0.0.1 so the fetch protections run against a local server"
    )

    # search
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="1 = pure vector, 0 = pure BM25")
    fusion: Literal["relative", "ranked"] = "relative"

    # moderation
    moderation_collection: str = Field(
        "known_content", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="collection of known-bad reference images"
    )
    moderation_pdq_threshold: int = Field(31, ge=0, le=256, description="largest PDQ Hamming distance that matches")
    moderation_keypoints: bool = Field(True, description="also match crops and overlays by keypoints")
    moderation_vector_max_distance: float = Field(
        0.15, ge=0.0, le=2.0, description="largest cosine distance to a reference that counts as a match"
    )
    moderation_rules_file: Path | None = Field(
        None, description="keyword rules; default <data_dir>/moderation_rules.toml, else the shipped file"
    )
    moderation_judge: bool = Field(False, description="ask the reranker the policy question on borderline uploads")
    moderation_judge_min_probability: float = Field(0.5, ge=0.0, le=1.0, description="judge probability that matches")
    moderation_lease_s: float = Field(600.0, gt=0, description="how long a reviewer's claim on a queue item lasts")

    @field_validator("url_allowed_domains", mode="before")
    @classmethod
    def _domain_list(cls, value: object) -> object:
        """Accept `a.com,b.org` as well as a JSON list; compare as lower-case ASCII names."""
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        if not isinstance(value, list):
            return value
        domains = []
        for entry in (str(item).strip().strip(".").lower() for item in value):
            if not entry:
                continue
            domain = entry.encode("idna").decode("ascii") if not entry.isascii() else entry
            if not DOMAIN_NAME.fullmatch(domain):
                raise ValueError(f"{entry!r} is not a domain name (give names like example.com, no scheme or path)")
            domains.append(domain)
        return domains

    @property
    def lance_dir(self) -> Path:
        return self.data_dir / "lancedb"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments > environment > TOML file.
        toml_file = os.environ.get(CONFIG_FILE_ENV, "vlsearch.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
