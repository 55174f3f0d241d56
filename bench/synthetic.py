"""Synthetic collections for the search benchmarks: deterministic, generated in chunks, never real data.

A collection of N records is a pure function of (N-independent) seed and record index, produced
CHUNK records at a time, so 1M x 2048-d (8 GB of float32) is never held in memory and any record
can be regenerated later (queries are built that way).

Text: OCR-like text and captions in English, Chinese or both, made from templates of the kinds
of images the product serves: app error screenshots (title, message, error code, reference,
buttons; English words sometimes glued together as RapidOCR does), receipts (items, prices,
order numbers), product photos (a label and a caption). Each record also carries a ticket id.

Metadata: category (10 values, about 10% each), app (12 values), language (en / zh / mixed),
ticket_id and created_at, as a manifest would give them.

Vectors: 2048-d, L2-normalised float32, made to have the two properties the benchmarks depend on:
- structure: 1024 clusters in a 64-d latent space; a record's latent point is its cluster
  centre plus noise, projected to 2048-d by a fixed random matrix, plus isotropic noise. Nearest
  neighbours are therefore meaningful (same cluster first) without being trivially separated,
  and the data has a low intrinsic dimension, as real embeddings do.
- energy decaying over dimensions, as in Matryoshka-trained embeddings: dimension d is scaled
  by (1 + d/128)^-0.75, so the first 512 dimensions hold about 73% of the energy and the first
  1024 about 88%, and truncation is meaningful. Real Matryoshka models also concentrate
  *information* in the leading dimensions; these vectors only concentrate energy, so the
  truncation figures they give are indicative, not a property of any particular model.

A cluster has one topic (which sets the category and the text template) and one app, so the
text and the vector of a record agree, as they do for real images.

Queries: a text drawn from the target record's own words (an English phrase, a Chinese phrase,
an error code or caption words) and a vector that is the target's latent point moved a little
and re-projected with fresh noise (cosine to the target about 0.9), plus a filter on the
target's category.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipeline.records import AssetRecord, SourceKind, Vector, asset_id

CHUNK = 1_000
CLUSTERS = 1_024
LATENT = 64
WITHIN_CLUSTER = 0.55  # latent spread around a centre (centres have unit variance per axis)
ISOTROPIC_NOISE = 0.35  # per-dimension noise relative to the projected signal
QUERY_SHIFT = 0.25  # latent move of a query away from its target
INGESTED_AT = datetime(2026, 1, 1, tzinfo=UTC)

CATEGORIES = [
    "login",
    "network",
    "billing",
    "sync",
    "account",
    "security",
    "performance",
    "shipping",
    "receipt",
    "product",
]
APPS = [
    ("PayFlow", "PF"),
    ("Nimbus ID", "NB"),
    ("SkyVault Sync", "SV"),
    ("Zipp", "ZP"),
    ("Harbor Bank", "HB"),
    ("ShopNest", "SN"),
    ("启云办公", "QY"),
    ("云途快递", "YT"),
    ("MediCare+", "MC"),
    ("StreamBox", "SB"),
    ("QuickTix", "QT"),
    ("LedgerPro", "LP"),
]


@dataclass(frozen=True)
class Topic:
    category: str
    title_en: str
    message_en: str
    title_zh: str
    message_zh: str


TOPICS = [
    Topic(
        "login",
        "Sign-in failed",
        "Too many failed attempts. Your account is locked for 30 minutes.",
        "登录失败",
        "密码错误次数过多，账户已锁定30分钟。",
    ),
    Topic(
        "login",
        "Verification code expired",
        "The verification code has expired. Request a new code and try again.",
        "验证码已过期",
        "验证码已失效，请重新获取验证码。",
    ),
    Topic(
        "network",
        "Connection timed out",
        "The server took too long to respond. Check your network connection and retry.",
        "网络连接超时",
        "网络连接超时，请检查网络后重试。",
    ),
    Topic(
        "network",
        "No internet connection",
        "You appear to be offline. Some features are unavailable.",
        "网络不可用",
        "当前无网络连接，请检查网络设置。",
    ),
    Topic(
        "network",
        "VPN connection failed",
        "The network connection between your computer and the VPN server was interrupted.",
        "VPN连接失败",
        "与VPN服务器的连接已中断，请稍后重试。",
    ),
    Topic(
        "billing",
        "Payment failed",
        "Your card was declined by the issuer. Use another payment method.",
        "支付失败",
        "银行卡被发卡行拒绝，请更换支付方式。",
    ),
    Topic(
        "billing",
        "Subscription expired",
        "Your subscription has expired. Renew now to keep premium features.",
        "订阅已过期",
        "您的会员已到期，请续费以继续使用高级功能。",
    ),
    Topic(
        "billing",
        "Refund pending",
        "Your refund is being processed and will arrive in 5 to 7 business days.",
        "退款处理中",
        "退款正在处理中，预计5至7个工作日到账。",
    ),
    Topic(
        "sync",
        "Sync error",
        "Storage quota exceeded. Free up space or upgrade your plan.",
        "同步失败",
        "存储空间已满，请清理空间或升级套餐。",
    ),
    Topic(
        "sync",
        "Upload failed",
        "The file is larger than the 2 GB upload limit.",
        "上传失败",
        "文件大小超过2GB上传限制。",
    ),
    Topic(
        "account",
        "Transfer failed",
        "This transfer exceeds your daily limit of $5,000.00.",
        "转账失败",
        "本次转账超出每日限额5000元。",
    ),
    Topic(
        "account",
        "Profile update failed",
        "This email address is already in use by another account.",
        "资料更新失败",
        "该邮箱已被其他账户使用。",
    ),
    Topic(
        "security",
        "Suspicious sign-in blocked",
        "We blocked a sign-in attempt from a new device in another country.",
        "异常登录已拦截",
        "我们拦截了一次来自陌生设备的登录尝试。",
    ),
    Topic(
        "security",
        "Certificate error",
        "Your connection is not private. NET::ERR_CERT_DATE_INVALID",
        "证书错误",
        "您的连接不是私密连接，证书已过期。",
    ),
    Topic(
        "performance",
        "App not responding",
        "The application is not responding. Wait for it or close it.",
        "应用无响应",
        "应用程序无响应，请等待或强制关闭。",
    ),
    Topic(
        "performance",
        "Out of memory",
        "There is not enough memory to complete this operation.",
        "内存不足",
        "内存不足，无法完成此操作。",
    ),
    Topic(
        "shipping",
        "Delivery delayed",
        "Your package is delayed because of severe weather in the area.",
        "配送延迟",
        "受恶劣天气影响，您的包裹将延迟送达。",
    ),
    Topic(
        "shipping",
        "Address could not be verified",
        "The courier could not verify the delivery address.",
        "地址无法核实",
        "快递员无法核实收货地址，请更新地址信息。",
    ),
    Topic("receipt", "Receipt", "", "收据", ""),
    Topic("product", "Product photo", "", "商品图片", ""),
]
RECEIPT_ITEMS = [
    ("Americano", "美式咖啡"),
    ("Latte", "拿铁"),
    ("Croissant", "可颂"),
    ("Beef noodles", "牛肉面"),
    ("Green tea", "绿茶"),
    ("Dumplings", "饺子"),
    ("Sandwich", "三明治"),
    ("Orange juice", "橙汁"),
    ("USB-C cable", "数据线"),
    ("Phone case", "手机壳"),
    ("Notebook", "笔记本"),
    ("Umbrella", "雨伞"),
]
PRODUCTS = [
    ("coffee mug", "咖啡杯"),
    ("desk lamp", "台灯"),
    ("running shoes", "跑鞋"),
    ("backpack", "双肩包"),
    ("wireless earbuds", "无线耳机"),
    ("water bottle", "水杯"),
    ("office chair", "办公椅"),
    ("wrist watch", "手表"),
    ("rice cooker", "电饭煲"),
    ("tea set", "茶具"),
    ("keyboard", "键盘"),
    ("sunglasses", "太阳镜"),
]
COLOURS = ["white", "black", "red", "blue", "green", "grey", "yellow", "pink"]
MATERIALS = ["ceramic", "leather", "plastic", "metal", "wooden", "glass", "cotton"]
SURFACES = ["wooden table", "white background", "kitchen counter", "desk", "shelf"]
BUTTONS_EN = ["Retry", "Cancel", "OK", "Contact support", "Learn more", "Back", "Settings"]
BUTTONS_ZH = ["重试", "取消", "确定", "联系客服", "了解更多", "返回", "设置"]
DEVICES = ["phone", "desktop", "tablet"]


@dataclass(frozen=True)
class Query:
    text: str
    vector: Vector
    category: str
    target_id: str

    @property
    def where(self) -> str:
        return f"category = '{self.category}'"


class SyntheticCollection:
    """N deterministic records; chunk k (records k*CHUNK ..) depends only on (seed, k)."""

    def __init__(self, size: int, *, dim: int = 2048, seed: int = 0):
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self.dim = dim
        self.seed = seed
        shared = np.random.default_rng([seed, 0])
        self._centres = shared.standard_normal((CLUSTERS, LATENT)).astype(np.float32)
        self._projection = (shared.standard_normal((LATENT, dim)) / np.sqrt(LATENT)).astype(np.float32)
        self._decay = ((1.0 + np.arange(dim) / 128.0) ** -0.75).astype(np.float32)
        self._cluster_topic = shared.integers(0, len(TOPICS), CLUSTERS)
        self._cluster_app = shared.integers(0, len(APPS), CLUSTERS)

    @property
    def chunk_count(self) -> int:
        return -(-self.size // CHUNK)

    def records(self, batch: int = 10_000) -> Iterator[list[AssetRecord]]:
        """Every record, `batch` at a time (a multiple of CHUNK keeps memory at one batch)."""
        pending: list[AssetRecord] = []
        for chunk in range(self.chunk_count):
            pending.extend(self.chunk_records(chunk))
            if len(pending) >= batch:
                yield pending
                pending = []
        if pending:
            yield pending

    def vector_batches(self, batch: int = 10_000) -> Iterator[np.ndarray]:
        """Only the vectors, in record order (for vector-only benchmarks)."""
        per_batch = max(1, batch // CHUNK)
        for first in range(0, self.chunk_count, per_batch):
            chunks = range(first, min(first + per_batch, self.chunk_count))
            yield np.concatenate([self._chunk_vectors(chunk)[0] for chunk in chunks])

    def chunk_records(self, chunk: int) -> list[AssetRecord]:
        vectors, clusters = self._chunk_vectors(chunk)
        text_rng = random.Random(self.seed * 1_000_003 + chunk)
        start = chunk * CHUNK
        return [
            self._record(start + offset, int(cluster), vector, text_rng)
            for offset, (cluster, vector) in enumerate(zip(clusters, vectors))
        ]

    def queries(self, count: int) -> list[Query]:
        """`count` queries, each aimed at a different random record (regenerating only its chunk)."""
        rng = np.random.default_rng([self.seed, 1])
        targets = sorted(rng.choice(self.size, size=min(count, self.size), replace=False).tolist())
        queries = []
        cache: dict[int, tuple[list[AssetRecord], np.ndarray, np.ndarray]] = {}
        for index in targets:
            chunk = index // CHUNK
            if chunk not in cache:
                cache.clear()
                clusters, latents, _ = self._chunk_latents(chunk)
                cache[chunk] = (self.chunk_records(chunk), clusters, latents)
            records, clusters, latents = cache[chunk]
            record = records[index - chunk * CHUNK]
            latent = latents[index - chunk * CHUNK] + QUERY_SHIFT * rng.standard_normal(LATENT).astype(np.float32)
            vector = self._embed(latent[None, :], rng)[0]
            cluster = clusters[index - chunk * CHUNK]
            text = _query_text(record, TOPICS[self._cluster_topic[cluster]], self._code(cluster), random.Random(index))
            queries.append(Query(text, vector, record.metadata["category"], record.id))
        order = np.random.default_rng([self.seed, 2]).permutation(len(queries))
        return [queries[i] for i in order]

    # vectors ------------------------------------------------------------------------------

    def _chunk_latents(self, chunk: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        rng = np.random.default_rng([self.seed, 100, chunk])
        size = min(CHUNK, self.size - chunk * CHUNK)
        clusters = rng.integers(0, CLUSTERS, size)
        latents = self._centres[clusters] + WITHIN_CLUSTER * rng.standard_normal((size, LATENT), dtype=np.float32)
        return clusters, latents, rng

    def _chunk_vectors(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        clusters, latents, rng = self._chunk_latents(chunk)
        return self._embed(latents, rng), clusters

    def _embed(self, latents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.standard_normal((len(latents), self.dim), dtype=np.float32)
        vectors = (latents @ self._projection + ISOTROPIC_NOISE * noise) * self._decay
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    # text ---------------------------------------------------------------------------------

    def _code(self, cluster: int) -> str:
        """The error code of a cluster's screenshots (an app prefix and a number), e.g. PF-4021."""
        return f"{APPS[self._cluster_app[cluster]][1]}-{1000 + (cluster * 37) % 9000}"

    def _record(self, index: int, cluster: int, vector: np.ndarray, rng: random.Random) -> AssetRecord:
        topic = TOPICS[self._cluster_topic[cluster]]
        app = APPS[self._cluster_app[cluster]][0]
        language = rng.choices(["en", "zh", "mixed"], weights=[5, 3, 2])[0]
        code = self._code(cluster)
        if topic.category == "receipt":
            ocr, caption = _receipt(app, language, rng)
        elif topic.category == "product":
            ocr, caption = _product(app, language, rng)
        else:
            ocr, caption = _screenshot(topic, app, code, language, rng)
        sha = hashlib.sha256(f"synthetic-{self.seed}-{index}".encode()).hexdigest()
        created = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return AssetRecord(
            id=asset_id(sha),
            uri=f"synthetic://{self.seed}/{index:07d}.png",
            sha256=sha,
            width=1280 if rng.random() < 0.5 else 780,
            height=800 if rng.random() < 0.5 else 1688,
            mime="image/png",
            source_kind=SourceKind.IMAGE,
            ocr_text=ocr,
            caption=caption,
            pdq=sha,
            pdq_quality=100,
            thumbnail=b"",  # real thumbnails (about 5.4 KB on the samples) are left out: see docs/benchmarks.md
            metadata={
                "category": topic.category,
                "app": app,
                "language": language,
                "ticket_id": f"SUP-{index + 10000}",
                "created_at": created,
            },
            ocr_model="rapidocr",
            caption_model="synthetic",
            embed_model="synthetic",
            ingested_at=INGESTED_AT,
            vector=vector,
        )


def _glued(text: str, rng: random.Random) -> str:
    """Drop some spaces between words, as RapidOCR does on tight layouts."""
    words = text.split(" ")
    out = [words[0]]
    for word in words[1:]:
        out.append(word if rng.random() < 0.25 else " " + word)
    return "".join(out)


def _stamp(rng: random.Random) -> tuple[str, str]:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}", f"{rng.getrandbits(32):08X}"


def _screenshot(topic: Topic, app: str, code: str, language: str, rng: random.Random) -> tuple[str, str]:
    clock, reference = _stamp(rng)
    device = rng.choice(DEVICES)
    lines = [clock, app]
    if language in ("en", "mixed"):
        lines += [topic.title_en, _glued(f"Error {code}: {topic.message_en}", rng), f"Reference {reference}"]
        lines.append(" ".join(rng.sample(BUTTONS_EN, 2)))
    if language in ("zh", "mixed"):
        lines += [topic.title_zh, f"错误代码{code}：{topic.message_zh}", f"参考编号{reference}"]
        lines.append(" ".join(rng.sample(BUTTONS_ZH, 2)))
    if language == "zh" and rng.random() < 0.5:
        caption = f"{app}应用的{device}截图，显示“{topic.title_zh}”错误提示"
    else:
        caption = f"a {device} screenshot of the {app} app showing the error message {topic.title_en.lower()}"
    return "\n".join(lines), caption


def _receipt(app: str, language: str, rng: random.Random) -> tuple[str, str]:
    clock, reference = _stamp(rng)
    items = rng.sample(RECEIPT_ITEMS, rng.randint(2, 4))
    prices = [rng.randint(5, 120) + rng.choice([0, 0.5, 0.9]) for _ in items]
    chinese = language == "zh" or (language == "mixed" and rng.random() < 0.5)
    lines = [app, f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {clock}"]
    lines += [f"{zh if chinese else en} x1 {price:.2f}" for (en, zh), price in zip(items, prices)]
    lines.append(f"{'合计' if chinese else 'Total'} ¥{sum(prices):.2f}")
    lines.append(f"{'订单号' if chinese else 'Order No.'} {reference}")
    caption = f"a photo of a paper receipt from {app} listing {len(items)} items"
    return "\n".join(lines), caption


def _product(app: str, language: str, rng: random.Random) -> tuple[str, str]:
    en, zh = rng.choice(PRODUCTS)
    colour, material = rng.choice(COLOURS), rng.choice(MATERIALS)
    label = zh if language == "zh" else en.title() if language == "en" else f"{en.title()} {zh}"
    ocr = f"{app}\n{label}\nSKU {rng.randint(100000, 999999)}"
    caption = f"a {colour} {material} {en} on a {rng.choice(SURFACES)}, product photo"
    return ocr, caption


def _query_text(record: AssetRecord, topic: Topic, code: str, rng: random.Random) -> str:
    """Words a user would type to find this record: caption words, a title, a Chinese phrase or the error code."""
    caption_words = [word for word in record.caption.replace(",", "").split(" ") if len(word) > 3 and word.isascii()]
    roll = rng.random()
    if topic.category in ("receipt", "product") or roll < 0.25:
        return " ".join(rng.sample(caption_words, min(3, len(caption_words)))) if caption_words else topic.title_zh
    if roll < 0.5 and record.metadata["language"] != "en":
        return topic.title_zh if rng.random() < 0.5 else topic.message_zh.split("，")[0]
    if roll < 0.7:
        return code
    return topic.title_en
