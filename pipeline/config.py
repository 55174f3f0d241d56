"""Settings: environment variables prefixed VLSEARCH_, optionally a TOML file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "VLSEARCH_CONFIG"
APP_NAME = "vlsearch"
LEGACY_DATA_DIR = Path("data")  # versions before 0.2 kept the collection in ./data of the current directory
LEGACY_CONFIG_FILE = Path("vlsearch.toml")


def default_data_dir() -> Path:
    """The platform's per-user data folder (Linux: ~/.local/share/vlsearch), whatever the current directory."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    """VLSEARCH_CONFIG, else vlsearch.toml in the platform's per-user config folder (Linux: ~/.config/vlsearch)."""
    named = os.environ.get(CONFIG_FILE_ENV)
    return Path(named) if named else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "vlsearch.toml"


TICKET_ID_PLACEHOLDER = "{ticket_id}"
TICKET_URL_EXAMPLE = "https://helpdesk.example.com/tickets/{ticket_id}"
DOMAIN_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class Settings(BaseSettings):
    """Everything a deployment can tune. Field names map to VLSEARCH_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="VLSEARCH_", extra="ignore")

    # store
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="embedded store, queue, audit and feedback databases, uploads",
        json_schema_extra={"doc_default": "the platform's user data folder (Linux: ~/.local/share/vlsearch)"},
    )
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
    weaviate_profile: str | None = Field(
        None, description="a [profiles.<name>] table of the collection definition, e.g. cluster (replication 3)"
    )
    weaviate_consistency: Literal["ONE", "QUORUM", "ALL"] = Field(
        "QUORUM", description="replicas that must answer each Weaviate read and write"
    )
    ann_min_rows: int = Field(10_000, ge=256, description="build the ANN index once the table is this large")

    # logging
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "warning", description="what the CLI and the server log to stderr; --log-level overrides it"
    )

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
    caption_server_url: str | None = Field(
        None,
        description="an OpenAI-compatible server (vLLM) serving VLSEARCH_CAPTION_MODEL, e.g. http://gpu:8000/v1; "
        "captions come from there instead of local weights",
    )
    rerank_server_url: str | None = Field(
        None, description="an OpenAI-compatible server (vLLM) serving VLSEARCH_RERANK_MODEL, e.g. http://gpu:8001/v1"
    )
    model_server_timeout_s: float = Field(120.0, gt=0, description="per request to a caption or rerank server")
    model_server_concurrency: int = Field(
        16, ge=1, le=256, description="requests in flight to a model server at once (it batches them on the GPU)"
    )

    # rerank
    rerank: bool | None = Field(
        None, description="rerank by default; unset = only when the reranker runs on a GPU (seconds per pair on CPU)"
    )
    rerank_depth: int = Field(20, ge=1, le=200, description="how many fused hits are reranked")
    rerank_batch_size: int = Field(4, ge=1, description="query-document pairs per forward pass")
    rerank_max_pixels: int = Field(448 * 448, ge=32 * 32, description="document image pixels fed to the reranker")
    rerank_budget_s: float = Field(20.0, gt=0, description="time allowed for reranking one query")
    min_relevance: float | None = Field(None, ge=0.0, le=1.0, description="drop reranked hits below this probability")
    visual_weight: float = Field(
        1.5,
        ge=0.0,
        le=10.0,
        description="weight of 'looks the same' (verified keypoint matches) in an image query's fusion, beside "
        "keywords and vectors (1 - alpha and alpha, 1 together); above 1, the picture itself comes before pictures "
        "that only read or look alike; 0 = off",
    )
    feedback_weight: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="how far people's thumbs up / down on the same or similar queries move a hit: at most this share "
        "of the best candidate's fused score (3 people net move it about three quarters of that); 0 = off",
    )
    feedback_similarity: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="cosine similarity of two query vectors (same embedding model) above which votes given for one "
        "query count for the other; queries with the same words in any order always count",
    )
    insights_compare_s: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="how long the Insights page and GET /v1/insights compare newly ingested assets for near-duplicates "
        "per request (the rest wait for the next one); `vlsearch insights` compares them all",
    )

    # images
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(89_478_485, ge=1, description="decompression-bomb limit")
    thumbnail_px: int = Field(256, ge=32, le=256)
    query_max_pixels: int = Field(
        4_000_000,
        ge=32 * 32,
        description="a query image is scaled down to this many pixels before OCR and the models "
        "(a screenshot's text stays readable; each pixel costs memory and time)",
    )
    query_max_side: int = Field(
        2000,
        ge=32,
        description="a query image's longest side is scaled down to this (RapidOCR reads no more than 2000 px)",
    )
    # OCR
    ocr_workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="images ingest OCRs at once, each worker an onnxruntime session with cores/workers threads; "
        "unset = one per core the process may run on",
    )
    ocr_detector_side: int | None = Field(
        None,
        ge=256,
        description="longest side the text detector sees (found lines are still read at full size); unset = "
        "RapidOCR's own sizing, which measured as fast and twice as faithful on screenshots (docs/benchmarks.md)",
    )
    ocr_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="cuda: OCR on onnxruntime's CUDA provider (needs onnxruntime-gpu); auto: cuda when present"
    )
    ingest_batch_size: int = Field(
        16, ge=1, description="assets per store commit; an interrupted ingest redoes at most one batch"
    )

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

    # files on the server and manifests (docs/security.md#files-on-the-server)
    ingest_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="folders the app's server-folder ingest and manifest rows may read below (symlinks may not "
        "leave them); absolute paths, comma-separated or a JSON list; unset = no server-folder ingest in the app, "
        "manifest rows only below the manifest's folder",
    )
    max_metadata_columns: int = Field(
        64, ge=1, le=1000, description="most metadata columns one manifest may bring (each is a column and an index)"
    )

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

    # support lookup
    ticket_url_template: str | None = Field(
        None,
        description="link from a matched ticket to the helpdesk: an http(s) URL with {ticket_id} where the ticket's "
        "id goes (URL-encoded), e.g. https://helpdesk.example.com/tickets/{ticket_id}; unset = no link",
    )

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
    moderation_quarantine: bool = Field(
        False,
        description="a Remove decision moves the upload's file to <data_dir>/quarantine (owner-only) instead of "
        "deleting it; its assets leave the collection either way",
    )

    # access control and limits (pipeline/access/auth.py, pipeline/access/limits.py; docs/security.md)
    auth: Literal["auto", "local", "oidc", "off"] = Field(
        "auto",
        description="who may use the app: auto = OIDC when Streamlit's [auth] secrets exist, else the users file; "
        "off = no sign-in, everyone is admin (a single-user machine only)",
    )
    users_file: Path | None = Field(
        None, description="local users and OIDC role mapping; default <data_dir>/users.json"
    )
    oidc_roles: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="OIDC e-mail or domain -> role: `ann@example.com=admin,example.com=analyst` or a JSON object",
    )
    oidc_default_role: str | None = Field(None, description="role of an OIDC user no mapping names; unset = no access")
    oidc_require_verified_email: bool = Field(
        True,
        description="only an `email_verified` claim that is boolean true lets an OIDC user in; false also admits "
        "users whose provider sends no such claim (only for a provider that holds verified addresses only)",
    )
    sign_in_max_failures: int = Field(
        5, ge=1, description="failed sign-ins in a row, for one name from one address, before they are locked out"
    )
    sign_in_lockout_s: float = Field(
        60.0, gt=0, description="the first lockout; it doubles with each further failure (up to the maximum)"
    )
    sign_in_max_lockout_s: float = Field(
        3600.0, gt=0, description="the longest lockout; failures are forgotten this long after a lockout ends"
    )
    trusted_proxies: int = Field(
        0,
        ge=0,
        le=10,
        description="reverse proxies in front of the app that append the client to X-Forwarded-For; the sign-in "
        "lockout reads the client's address from there (0 = the connection's own address)",
    )
    max_query_chars: int = Field(2000, ge=1, description="longest text query accepted")
    max_results: int = Field(1000, ge=1, le=1000, description="most hits one search may ask for")
    max_model_calls_per_session: int = Field(
        200,
        ge=1,
        description="model calls (embed, OCR of a query image, rerank) one signed-in user may make per window, "
        "counted across all their tabs and sessions",
    )
    model_calls_window_s: float = Field(3600.0, gt=0, description="the window the model-call limit counts over")
    max_concurrent_queries: int = Field(
        2,
        ge=1,
        description="model-heavy searches (query OCR, embedding, rerank) one process runs at once; "
        "more are answered 'busy, try again' instead of piling up",
    )

    # HTTP API (python -m pipeline serve)
    api_requests_per_minute: int = Field(
        120, ge=1, description="requests one API token (or, in open mode, one client address) may make per minute"
    )
    api_max_body_bytes: int = Field(
        60 * 1024 * 1024,
        ge=1024,
        description="largest request body the API reads (413 above it); image byte and pixel limits apply on top",
    )
    query_batch_window_ms: float = Field(
        5.0,
        ge=0.0,
        le=1000.0,
        description="the API waits this long for more concurrent query embeddings to run them in one forward pass "
        "(0 = no micro-batching)",
    )
    query_batch_max: int = Field(16, ge=1, description="most query embeddings in one micro-batched forward pass")

    @field_validator("oidc_roles", mode="before")
    @classmethod
    def _role_map(cls, value: object) -> object:
        """Accept `who=role,who=role` as well as a JSON object; keys compare lower-case."""
        if isinstance(value, str):
            if value.lstrip().startswith("{"):
                value = json.loads(value)
            else:
                pairs = [entry.split("=", 1) for entry in value.split(",") if entry.strip()]
                if any(len(pair) != 2 for pair in pairs):
                    raise ValueError(f"{value!r}: give who=role pairs separated by commas")
                value = {who: role for who, role in pairs}
        if isinstance(value, dict):
            return {str(who).strip().lower(): str(role).strip() for who, role in value.items()}
        return value

    @property
    def users_path(self) -> Path:
        return self.users_file or self.data_dir / "users.json"

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

    @field_validator("ingest_roots", mode="before")
    @classmethod
    def _root_list(cls, value: object) -> object:
        """Accept `/srv/a,/srv/b` as well as a JSON list; only absolute folders (`~` expanded), never relative to
        wherever the server happens to start."""
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        if not isinstance(value, list):
            return value
        roots = []
        for entry in (str(item).strip() for item in value):
            if not entry:
                continue
            root = Path(entry).expanduser()
            if not root.is_absolute():
                raise ValueError(f"{entry!r} is not an absolute path (give folders like /srv/screenshots)")
            roots.append(root)
        return roots

    @field_validator("ticket_url_template")
    @classmethod
    def _ticket_url(cls, value: str | None) -> str | None:
        """An http(s) address with exactly the {ticket_id} placeholder: anything else would link nowhere useful."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        address = urlsplit(value)
        if address.scheme not in ("http", "https") or not address.netloc:
            raise ValueError(f"{value!r} is not an http(s) address (give e.g. {TICKET_URL_EXAMPLE})")
        if TICKET_ID_PLACEHOLDER in address.netloc:
            raise ValueError(f"{value!r}: {TICKET_ID_PLACEHOLDER} belongs in the path or query, not the host")
        if TICKET_ID_PLACEHOLDER not in value or re.search(r"[{}]", value.replace(TICKET_ID_PLACEHOLDER, "")):
            raise ValueError(f"{value!r} needs {TICKET_ID_PLACEHOLDER} and no other braces (e.g. {TICKET_URL_EXAMPLE})")
        return value

    def ticket_url(self, ticket_id: str) -> str | None:
        """The helpdesk address of a ticket (its id URL-encoded into the template), None when no template is set."""
        if self.ticket_url_template is None:
            return None
        return self.ticket_url_template.replace(TICKET_ID_PLACEHOLDER, quote(ticket_id, safe=""))

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
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def earlier_version_notices(self, cwd: Path | None = None) -> list[str]:
        """Name a ./data folder or ./vlsearch.toml that an earlier version would have used and this one does not.

        Before 0.2 both were relative to the current directory; they are not read any more, but a user
        who kept a collection there must hear where it is and how to keep using it.
        """
        cwd = cwd or Path.cwd()
        notices = []
        old_data = (cwd / LEGACY_DATA_DIR).resolve()
        if (old_data / "lancedb").is_dir() and old_data != self.data_dir.resolve():
            notices.append(
                f"a collection from an earlier vlsearch is at {old_data}, but the data directory is now "
                f"{self.data_dir}; to use it: export VLSEARCH_DATA_DIR={old_data}"
            )
        old_config = (cwd / LEGACY_CONFIG_FILE).resolve()
        if old_config.is_file() and old_config != config_file().resolve():
            notices.append(
                f"{old_config} is not read any more (the config file is now {config_file()}); "
                f"to use it: export {CONFIG_FILE_ENV}={old_config}"
            )
        return notices
