#!/usr/bin/env python3
"""Generate the held-out evaluation set of issue 20 in bench/data/eval_set/: queries of the kinds that fail in
real use, against the sample collection, none of them a copy of a stored image.

- screens/   every ticket's screen rendered again at another viewport (the layout reflows), cut as a customer
             cuts it (8-20 % off the top, 3-15 % off each side, seeded by the ticket) and saved as a JPEG;
- tiny/      six whole windows shrunk until their text is about 3 px high: only how they look is left;
- crops/     the product and stock photos (no text, or a label) cropped 10-25 % and re-encoded;
- pages/     the text images (receipt, label, notice, slide, sign...) as a phone photographs them: tilted in
             perspective, unevenly lit, slightly blurred, JPEG;
- unknown/   eight new error screens of the same apps that are *not* in the collection (another error code
             and message on the same screen template): a screenshot lookup must not be confident on them;
- qrels.jsonl   the retrieval judgments for `python -m pipeline eval --qrels bench/data/eval_set/qrels.jsonl`:
                the image queries above plus typed questions in English and Chinese, worded as people ask;
- lookup.jsonl  the screenshot-lookup cases (screens/, tiny/ and unknown/, with the expected ticket or null)
                for bench/lookup_confidence.py.

Rerun with the same environment as scripts/make_samples.py (Chromium, its fonts, playwright, scikit-image):

    /tmp/samples-venv/bin/python scripts/make_eval_set.py
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_samples import (
    IMAGES_DIR,
    PRODUCT_SHOTS,
    SCREENS,
    STOCK_PHOTOS,
    TEXT_IMAGES,
    ErrorScreen,
    Viewport,
    check_fonts,
    chromium,
    error_screen_html,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "data" / "eval_set"
JPEG_QUALITY = 75
DESKTOPS = (Viewport(1000, 720), Viewport(1100, 760), Viewport(1366, 768), Viewport(1440, 900), Viewport(1152, 720))
PHONES = (Viewport(360, 780, 2), Viewport(414, 896, 2), Viewport(430, 932, 2))
TINY_SHARE = 0.22

# Not in the collection: the same screens with another error (ticket ids SUP-9xxx are never stored).
# fmt: off
# ruff: noqa: E501  (one case a line reads better than one argument a line)
UNKNOWN: tuple[tuple[str, str, str, str], ...] = (
    ("SUP-1042", "PF-4077", "Payment failed", "Error PF-4077: The card's billing address does not match."),
    ("SUP-1063", "E-SYNC-611", "Sync paused", "Sync error E-SYNC-611: The folder was moved on another device."),
    ("SUP-1121", "IMAP-550", "Cannot open mailbox", "IMAP-550: The mailbox INBOX/Archive does not exist on the server."),
    ("SUP-1133", "VPN-812", "Connection failed", "VPN-812: The gateway refused the protocol version of this client."),
    ("SUP-1057", "NB-1009", "登录失败", "错误代码 NB-1009：该账户已被管理员停用，请联系管理员。"),
    ("SUP-1149", "PF-5017", "支付失败", "错误代码 PF-5017：银行卡余额不足，请更换支付方式。"),
    ("SUP-1230", "SMTP-554", "发送失败", "SMTP-554：收件人地址被对方服务器拒收，请检查地址后重试。"),
    ("SUP-1318", "SN-3044", "Address problem", "SN-3044: We cannot deliver to P.O. boxes. Enter a street address."),
)

# Typed questions, worded the way agents and analysts type them: question and filler words around a few words
# that matter, some describing the problem in other words than the screen does.
QUESTIONS: tuple[tuple[str, dict[str, int]], ...] = (
    ("why was the customer's card declined at checkout?", {"ticket_id=SUP-1042": 2, "ticket_id=SUP-1244": 1}),
    ("what do I do when a payment went through twice", {"ticket_id=SUP-1392": 2}),
    ("how can the customer fix the storage quota being exceeded", {"ticket_id=SUP-1063": 2}),
    ("the user cannot send an email because the attachment is too large", {"ticket_id=SUP-1347": 2}),
    ("which tickets are about the VPN connection failing", {"ticket_id=SUP-1133": 2, "ticket_id=SUP-1361": 1, "ticket_id=SUP-1259": 1}),
    ("how do I get around the daily transfer limit?", {"ticket_id=SUP-1096": 2}),
    ("is there a ticket where the authenticator code was rejected", {"ticket_id=SUP-1276": 2}),
    ("what happened when the item was out of stock during checkout", {"ticket_id=SUP-1104": 2}),
    ("can you find the ticket about the SSO assertion that expired", {"ticket_id=SUP-1162": 2}),
    ("Face ID stopped working after an update, what did we tell them?", {"ticket_id=SUP-1305": 2}),
    ("the shipping address was rejected because of the ZIP code", {"ticket_id=SUP-1318": 2}),
    ("a file could not sync because two versions conflict", {"ticket_id=SUP-1290": 2}),
    ("what was the fix for the TLS handshake error", {"ticket_id=SUP-1361": 2}),
    ("how much did the customer pay at the grocery store", {"uri=../../../samples/images/text_receipt_grocery.png": 2}),
    ("show me the picture of the red sneaker", {"uri=../../../samples/images/product_sneaker_red.jpg": 2}),
    ("为什么账户被锁定了？", {"ticket_id=SUP-1057": 2}),
    ("用户的网络连接超时怎么办", {"ticket_id=SUP-1078": 2, "ticket_id=SUP-1149": 1}),
    ("支付网关出现故障的时候应该怎么处理", {"ticket_id=SUP-1149": 2}),
    ("文件名里有非法字符导致同步失败", {"ticket_id=SUP-1178": 2}),
    ("请问优惠券过期了还能用吗", {"ticket_id=SUP-1185": 2}),
    ("登录以后会话为什么会自动退出", {"ticket_id=SUP-1203": 2}),
    ("邮件服务器不可用，发不出邮件", {"ticket_id=SUP-1230": 2}),
    ("转账时收款人的名字对不上", {"ticket_id=SUP-1378": 2}),
    ("哪里有停水的通知", {"uri=../../../samples/images/text_notice_water_outage_zh.png": 2}),
)
# fmt: on


def customer_crop(image: Image.Image, seed: str) -> Image.Image:
    rng = random.Random(f"eval:{seed}")
    width, height = image.size
    left, right = int(width * rng.uniform(0.03, 0.15)), width - int(width * rng.uniform(0.03, 0.15))
    top, bottom = int(height * rng.uniform(0.08, 0.20)), height - int(height * rng.uniform(0.03, 0.10))
    return image.crop((left, top, right, bottom))


def phone_photo(image: Image.Image, seed: str) -> Image.Image:
    """A page as a phone sees it: a perspective tilt, light falling off to one side, a little blur."""
    rng = random.Random(f"photo:{seed}")
    width, height = image.size
    margin = 0.12
    corners = [
        (rng.uniform(0, margin) * width, rng.uniform(0, margin) * height),
        (width - rng.uniform(0, margin) * width, rng.uniform(0, margin) * height),
        (width - rng.uniform(0, margin) * width, height - rng.uniform(0, margin) * height),
        (rng.uniform(0, margin) * width, height - rng.uniform(0, margin) * height),
    ]
    target = [(0, 0), (width, 0), (width, height), (0, height)]
    coefficients = _perspective(target, corners)
    tilted = image.convert("RGB").transform(
        (width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC, fillcolor=(70, 66, 60)
    )
    light = np.linspace(1.0, rng.uniform(0.55, 0.75), width, dtype=np.float32)[None, :, None]
    lit = (np.asarray(tilted, dtype=np.float32) * light).clip(0, 255).astype(np.uint8)
    return Image.fromarray(lit).filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.2)))


def _perspective(target: list[tuple[float, float]], source: list[tuple[float, float]]) -> list[float]:
    rows = []
    for (x, y), (u, v) in zip(target, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(source, dtype=np.float64).reshape(8))
    return solution.tolist()


def save(image: Image.Image, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, quality=JPEG_QUALITY, optimize=True)
    return path.relative_to(OUT).as_posix()


def viewport_for(screen: ErrorScreen) -> Viewport:
    choices = PHONES if screen.device == "phone" else DESKTOPS
    return random.Random(f"viewport:{screen.ticket_id}").choice(choices)


def main() -> None:
    check_fonts()
    for stale in OUT.rglob("*.jpg"):
        stale.unlink()
    qrels: list[dict[str, object]] = []
    lookups: list[dict[str, object]] = []
    by_ticket = {screen.ticket_id: screen for screen in SCREENS}
    tiny_tickets = set(random.Random("tiny").sample(sorted(by_ticket), 6))
    with chromium() as renderer:
        for screen in SCREENS:
            rendered = renderer.render(error_screen_html(screen), viewport_for(screen))
            name = save(customer_crop(rendered, screen.ticket_id), OUT / "screens" / f"{screen.ticket_id}.jpg")
            qrels.append({"image": name, "relevant": {f"ticket_id={screen.ticket_id}": 1}})
            lookups.append({"image": name, "ticket_id": screen.ticket_id, "kind": "screenshot"})
            if screen.ticket_id in tiny_tickets:
                small = rendered.resize(
                    (int(rendered.width * TINY_SHARE), int(rendered.height * TINY_SHARE)), Image.Resampling.LANCZOS
                )
                name = save(small, OUT / "tiny" / f"{screen.ticket_id}.jpg")
                qrels.append({"image": name, "relevant": {f"ticket_id={screen.ticket_id}": 1}})
                lookups.append({"image": name, "ticket_id": screen.ticket_id, "kind": "tiny window"})
        for number, (like, code, title, message) in enumerate(UNKNOWN):
            screen = dataclasses.replace(
                by_ticket[like], ticket_id=f"SUP-9{number:03d}", error_code=code, title=title, message=message
            )
            rendered = renderer.render(error_screen_html(screen), viewport_for(by_ticket[like]))
            name = save(customer_crop(rendered, screen.ticket_id), OUT / "unknown" / f"{screen.ticket_id}.jpg")
            lookups.append({"image": name, "ticket_id": None, "kind": f"not in the collection (like {like})"})
    for stem in [shot.stem for shot in PRODUCT_SHOTS] + [photo.stem for photo in STOCK_PHOTOS]:
        source = Image.open(IMAGES_DIR / f"{stem}.jpg").convert("RGB")
        rng = random.Random(f"crop:{stem}")
        share = rng.uniform(0.10, 0.25)
        left, top = int(source.width * share * rng.random()), int(source.height * share * rng.random())
        box = (left, top, left + int(source.width * (1 - share)), top + int(source.height * (1 - share)))
        name = save(source.crop(box), OUT / "crops" / f"{stem}.jpg")
        qrels.append({"image": name, "relevant": {f"uri=../../../samples/images/{stem}.jpg": 1}})
    for item in TEXT_IMAGES:
        source_name = f"{item.stem}.{'jpg' if item.jpeg else 'png'}"
        name = save(phone_photo(Image.open(IMAGES_DIR / source_name), item.stem), OUT / "pages" / f"{item.stem}.jpg")
        qrels.append({"image": name, "relevant": {f"uri=../../../samples/images/{source_name}": 1}})
    qrels.extend({"query": query, "relevant": relevant} for query, relevant in QUESTIONS)
    (OUT / "qrels.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in qrels))
    (OUT / "lookup.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in lookups))
    total = sum(path.stat().st_size for path in OUT.rglob("*") if path.is_file())
    print(f"{len(qrels)} judged queries, {len(lookups)} lookup cases, {total / 1e6:.2f} MB in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
