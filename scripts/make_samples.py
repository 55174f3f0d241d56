#!/usr/bin/env python3
"""Generate vlsearch's committed sample collection.

Why this exists: vlsearch needs a small, realistic, redistributable corpus for
demos and end-to-end tests: support-ticket error screenshots from fictional
apps (English and Chinese, light and dark, desktop and phone), product-style
photos, and images that carry text (receipts, labels, signs, flyers). Every
image is either rendered here from HTML/SVG written in this file, or is one of
scikit-image's public-domain / CC0 sample photos, so nothing in the collection
has third-party licensing strings attached.

It writes (paths relative to the repository root):

    samples/images/*.png|*.jpg        the collection
    samples/manifest.jsonl            one metadata row per image
    tests/data/query_screens/*.jpg    a customer's own re-shot of some error
                                      screens (other viewport, cropped, JPEG),
                                      each named <ticket_id>.jpg

How to rerun (Debian; no `playwright install`, the distro Chromium is used):

    apt-get install -y chromium fonts-noto-cjk fonts-noto-color-emoji fonts-dkg-handwriting
    python -m venv /tmp/samples-venv
    /tmp/samples-venv/bin/pip install playwright scikit-image Pillow numpy
    /tmp/samples-venv/bin/python scripts/make_samples.py   # i.e. `python scripts/make_samples.py`

The output is deterministic: there is no randomness apart from seeded crops,
and the same Chromium and fonts produce byte-identical files. Previously
generated images are removed first, so renamed entries leave nothing stale.
"""

# The HTML/CSS/SVG templates below keep one element or rule per line, which often runs past 120 columns.
# ruff: noqa: E501

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright
from skimage import data as skdata

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples"
IMAGES_DIR = SAMPLES_DIR / "images"
MANIFEST = SAMPLES_DIR / "manifest.jsonl"
QUERY_DIR = ROOT / "tests" / "data" / "query_screens"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
REQUIRED_FONTS = ("Noto Sans CJK SC", "Liberation Sans", "Noto Color Emoji", "DkgHandwriting")

JPEG_QUALITY = 90
QUERY_JPEG_QUALITY = 80
SIZE_BUDGET_BYTES = 8 * 1024 * 1024

Lang = Literal["en", "zh"]
Device = Literal["desktop", "phone"]
Theme = Literal["light", "dark"]
ErrorStyle = Literal["banner", "dialog", "toast"]
Kind = Literal["screenshot", "product", "text"]


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    scale: int = 1


DEVICE_VIEWPORTS: dict[Device, Viewport] = {"desktop": Viewport(1280, 800), "phone": Viewport(390, 844, 2)}


@dataclass(frozen=True)
class ManifestRow:
    """One line of samples/manifest.jsonl; every row has every column."""

    path: str
    ticket_id: str
    category: str
    resolution: str
    created_at: str
    app: str
    language: Lang
    kind: Kind
    error_code: str


# --------------------------------------------------------------------------- error screens


@dataclass(frozen=True)
class ErrorScreen:
    """A support ticket's screenshot: which app screen, which error, and how the ticket ended."""

    stem: str
    app: str
    view: str
    lang: Lang
    device: Device
    theme: Theme
    style: ErrorStyle
    ticket_id: str
    created_at: str
    category: str
    error_code: str
    title: str
    message: str
    actions: tuple[str, str]
    resolution: str

    def t(self, en: str, zh: str) -> str:
        return zh if self.lang == "zh" else en

    @property
    def _digest(self) -> bytes:
        return hashlib.sha256(self.ticket_id.encode()).digest()

    @property
    def reference(self) -> str:
        return self._digest[:4].hex().upper()

    @property
    def clock(self) -> str:
        return f"{8 + self._digest[4] % 12:02d}:{self._digest[5] % 60:02d}"

    @property
    def timestamp(self) -> str:
        return f"{self.created_at} {self.clock}"


# One ticket per block reads better than one argument per line.
# fmt: off
SCREENS: tuple[ErrorScreen, ...] = (
    ErrorScreen(
        "payflow_card_declined_en_desktop_light", "payflow", "checkout", "en", "desktop", "light", "banner",
        "SUP-1042", "2024-01-18", "billing", "PF-4021",
        "Payment failed", "Error PF-4021: Your card was declined by the issuer.",
        ("Try another card", "Contact support"),
        "Customer's bank blocked the charge as suspected fraud; advised them to call the issuer to approve it "
        "and retry with 3-D Secure.",
    ),
    ErrorScreen(
        "nimbus_login_locked_zh_phone_dark", "nimbus", "password", "zh", "phone", "dark", "banner",
        "SUP-1057", "2024-02-27", "login", "NB-1003",
        "登录失败", "错误代码 NB-1003：密码错误次数过多，账户已锁定 30 分钟。",
        ("找回密码", "联系管理员"),
        "已在后台为用户解锁账户并重置密码，并提醒其开启双重验证以防暴力破解。",
    ),
    ErrorScreen(
        "skyvault_quota_exceeded_en_desktop_light", "skyvault", "files", "en", "desktop", "light", "banner",
        "SUP-1063", "2024-03-14", "sync", "E-SYNC-507",
        "Sync paused", "Sync error E-SYNC-507: Storage quota exceeded. Free up space or upgrade your plan.",
        ("Upgrade storage", "Manage files"),
        "The 100 GB plan was full; emptied 12 GB of trash and offered a 1 TB upgrade, after which sync resumed.",
    ),
    ErrorScreen(
        "zipp_network_timeout_zh_phone_dark", "zipp", "request", "zh", "phone", "dark", "toast",
        "SUP-1078", "2024-04-09", "network", "ERR_TIMEOUT_408",
        "网络连接超时", "网络连接超时 (ERR_TIMEOUT_408)，请检查网络后重试。",
        ("重试", "取消"),
        "用户所在地区运营商网络故障，建议切换 Wi-Fi 或移动数据后重试，叫车订单已正常提交。",
    ),
    ErrorScreen(
        "harbor_transfer_limit_en_phone_light", "harbor", "transfer", "en", "phone", "light", "dialog",
        "SUP-1096", "2024-05-21", "account", "HB-2207",
        "Transfer failed", "Error HB-2207: This transfer exceeds your daily limit of $5,000.00.",
        ("Change amount", "Raise limit"),
        "Explained the $5,000 daily limit; the customer raised it to $10,000 in Settings > Limits after ID "
        "verification and the transfer went through.",
    ),
    ErrorScreen(
        "shopnest_out_of_stock_en_desktop_light", "shopnest", "checkout", "en", "desktop", "light", "banner",
        "SUP-1104", "2024-06-30", "order", "SN-4404",
        "Item no longer available", "Error SN-4404: \u201cAurora Desk Lamp\u201d is out of stock and was not ordered.",
        ("Remove item", "Notify me"),
        "The lamp sold out during checkout; removed it from the order, sent a 10% coupon and set up a "
        "back-in-stock notification.",
    ),
    ErrorScreen(
        "inkwell_imap_auth_en_desktop_dark", "inkwell", "inbox", "en", "desktop", "dark", "dialog",
        "SUP-1121", "2024-07-16", "login", "IMAP-535",
        "Authentication failed", "Error IMAP-535: The server rejected the username or password for m.jensen@fjordmail.example.",
        ("Cancel", "Update password"),
        "The mail provider requires an app password since 2FA was enabled; customer generated one and re-added "
        "the account.",
    ),
    ErrorScreen(
        "tunnelguard_connection_failed_en_desktop_dark", "tunnelguard", "status", "en", "desktop", "dark", "banner",
        "SUP-1133", "2024-08-05", "network", "VPN-809",
        "Connection failed",
        "Error VPN-809: The network connection between your computer and the VPN server could not be established.",
        ("Change protocol", "View log"),
        "Hotel Wi-Fi blocked UDP 500/4500; switched the client to the TCP 443 (Stealth) protocol and the tunnel "
        "connected.",
    ),
    ErrorScreen(
        "payflow_gateway_timeout_zh_phone_light", "payflow", "checkout", "zh", "phone", "light", "dialog",
        "SUP-1149", "2024-09-12", "billing", "PF-5002",
        "支付失败", "错误代码 PF-5002：支付网关响应超时，请稍后重试。本次未扣款。",
        ("稍后再试", "重新支付"),
        "支付网关在 14:05–14:40 出现故障，已确认未扣款，请用户在故障恢复后重新支付。",
    ),
    ErrorScreen(
        "nimbus_sso_assertion_expired_en_desktop_light", "nimbus", "sso", "en", "desktop", "light", "banner",
        "SUP-1162", "2024-10-03", "login", "NB-2210",
        "Single sign-on failed", "Error NB-2210: SAML assertion expired (clock skew detected). Contact your administrator.",
        ("Try again", "Use password instead"),
        "The customer's IdP server clock was 7 minutes fast; they re-synced NTP and SSO logins work again.",
    ),
    ErrorScreen(
        "skyvault_invalid_filename_zh_desktop_light", "skyvault", "files", "zh", "desktop", "light", "dialog",
        "SUP-1178", "2024-10-29", "sync", "E-SYNC-213",
        "同步失败", "错误代码 E-SYNC-213：文件名包含非法字符（: * ? \" < > |），无法上传。",
        ("跳过此文件", "重命名"),
        "指导用户将文件名中的冒号和问号替换为下划线，重新同步后恢复正常。",
    ),
    ErrorScreen(
        "shopnest_coupon_expired_zh_desktop_light", "shopnest", "checkout", "zh", "desktop", "light", "banner",
        "SUP-1185", "2024-11-18", "order", "SN-5120",
        "订单提交失败", "错误代码 SN-5120：优惠券 SAVE50 已过期，请移除后重新提交订单。",
        ("移除优惠券", "查看我的优惠券"),
        "优惠券已于 11 月 15 日过期，客服为用户补发了一张同面额优惠券，订单已重新提交。",
    ),
    ErrorScreen(
        "harbor_session_expired_zh_phone_light", "harbor", "home", "zh", "phone", "light", "dialog",
        "SUP-1203", "2024-12-09", "account", "HB-6031",
        "会话已过期", "错误代码 HB-6031：您已超过 10 分钟未操作，为保障资金安全，请重新登录。",
        ("取消", "重新登录"),
        "会话超过 10 分钟无操作自动退出属正常安全策略，已告知用户重新登录即可。",
    ),
    ErrorScreen(
        "zipp_outside_service_area_en_phone_light", "zipp", "request", "en", "phone", "light", "banner",
        "SUP-1217", "2025-01-14", "order", "ZR-3310",
        "Pickup unavailable", "Error ZR-3310: This pickup address is outside our service area.",
        ("Move pickup pin", "Help"),
        "The pickup pin was set across the county line; asked the rider to move it to the nearest in-zone point "
        "at Terminal B.",
    ),
    ErrorScreen(
        "inkwell_smtp_unavailable_zh_desktop_light", "inkwell", "compose", "zh", "desktop", "light", "dialog",
        "SUP-1230", "2025-02-20", "network", "SMTP-421",
        "邮件发送失败", "错误代码 SMTP-421：服务器暂时不可用，邮件已保存到发件箱，将自动重试。",
        ("查看发件箱", "立即重试"),
        "邮件服务器维护导致 SMTP 暂停服务，维护结束后发件箱中的邮件已自动重新发送。",
    ),
    ErrorScreen(
        "payflow_3ds_failed_en_phone_dark", "payflow", "checkout", "en", "phone", "dark", "banner",
        "SUP-1244", "2025-03-14", "billing", "PF-4103",
        "Verification failed", "Error PF-4103: 3-D Secure authentication failed. Your bank could not verify this payment.",
        ("Retry verification", "Use another card"),
        "The bank's 3-D Secure page timed out in the in-app browser; the customer completed payment after approving "
        "the push notification in their banking app.",
    ),
    ErrorScreen(
        "tunnelguard_auth_rejected_zh_desktop_dark", "tunnelguard", "status", "zh", "desktop", "dark", "dialog",
        "SUP-1259", "2025-04-02", "login", "VPN-691",
        "认证失败", "错误代码 VPN-691：用户名或密码不正确，远程连接被拒绝。",
        ("取消", "重新输入"),
        "用户订阅已续费但凭据未同步，已重新下发 VPN 凭据，用户重新登录后连接成功。",
    ),
    ErrorScreen(
        "nimbus_mfa_code_invalid_en_phone_light", "nimbus", "mfa", "en", "phone", "light", "banner",
        "SUP-1276", "2025-05-19", "login", "NB-1417",
        "Invalid verification code", "Error NB-1417: The 6-digit code has expired or was already used.",
        ("Resend code", "Use a backup code"),
        "The phone's clock was set manually and had drifted; enabling automatic time made authenticator codes "
        "match again.",
    ),
    ErrorScreen(
        "skyvault_file_conflict_en_desktop_dark", "skyvault", "files", "en", "desktop", "dark", "dialog",
        "SUP-1290", "2025-06-23", "sync", "E-SYNC-409",
        "File conflict", "Error E-SYNC-409: \u201cBudget 2025.xlsx\u201d was changed on another device while you were editing it.",
        ("Keep both", "Replace"),
        "Both copies were kept; helped the customer merge the edits and enabled file locking for shared "
        "spreadsheets.",
    ),
    ErrorScreen(
        "harbor_face_id_disabled_en_phone_dark", "harbor", "home", "en", "phone", "dark", "dialog",
        "SUP-1305", "2025-07-08", "account", "HB-7719",
        "Face ID unavailable", "Error HB-7719: Biometric login has been disabled on this device.",
        ("Not now", "Use passcode"),
        "Biometrics were reset by an iOS update; the customer signed in with their passcode and re-enabled Face ID "
        "in Security settings.",
    ),
    ErrorScreen(
        "shopnest_address_invalid_en_phone_dark", "shopnest", "checkout", "en", "phone", "dark", "banner",
        "SUP-1318", "2025-08-27", "order", "SN-3012",
        "Address could not be verified", "Error SN-3012: The postal code does not match the city.",
        ("Edit address", "Use as entered"),
        "The customer had typed ZIP 94016 for Oakland; corrected it to 94612 and the order was placed.",
    ),
    ErrorScreen(
        "nimbus_activation_expired_zh_desktop_light", "nimbus", "activate", "zh", "desktop", "light", "banner",
        "SUP-1334", "2025-09-15", "account", "NB-3001",
        "激活链接已失效", "错误代码 NB-3001：账户激活链接已过期（有效期 24 小时）。",
        ("重新发送激活邮件", "返回登录"),
        "已为用户重新发送激活邮件，并提醒其在 24 小时内完成激活。",
    ),
    ErrorScreen(
        "inkwell_attachment_too_large_en_desktop_light", "inkwell", "compose", "en", "desktop", "light", "banner",
        "SUP-1347", "2025-10-30", "email", "MX-552",
        "Message not sent", "Error MX-552: The attachment exceeds the 25 MB size limit.",
        ("Share as link", "Remove attachment"),
        "Advised the customer to share the 60 MB video as a SkyVault link instead of attaching it.",
    ),
    ErrorScreen(
        "tunnelguard_tls_handshake_en_phone_dark", "tunnelguard", "status", "en", "phone", "dark", "banner",
        "SUP-1361", "2025-12-04", "network", "TG-1201",
        "Secure connection failed", "Error TG-1201: TLS handshake failed (server certificate expired).",
        ("Pick another server", "Report"),
        "The expired certificate on the Frankfurt-3 gateway was renewed by ops; the customer reconnected without "
        "changes.",
    ),
    ErrorScreen(
        "harbor_payee_mismatch_zh_phone_dark", "harbor", "transfer", "zh", "phone", "dark", "dialog",
        "SUP-1378", "2026-01-21", "billing", "HB-4302",
        "转账失败", "错误代码 HB-4302：收款人户名与账号不符，请核对后重试。资金未被扣除。",
        ("返回修改", "联系客服"),
        "用户输入的收款人姓名有误，核对后重新发起转账成功，资金未被扣除。",
    ),
    ErrorScreen(
        "payflow_duplicate_payment_en_desktop_dark", "payflow", "checkout", "en", "desktop", "dark", "dialog",
        "SUP-1392", "2026-02-26", "billing", "PF-4090",
        "Duplicate payment blocked", "Error PF-4090: An identical payment of \u20ac84.90 was made 2 minutes ago.",
        ("View receipt", "Pay again anyway"),
        "The first payment had succeeded; cancelled the duplicate order and confirmed a single \u20ac84.90 charge "
        "on the card.",
    ),
)


# fmt: on


@dataclass(frozen=True)
class QueryShot:
    """A customer's own capture of a ticket's screen: another viewport, cropped, lossy JPEG."""

    ticket_id: str
    viewport: Viewport


QUERY_SHOTS: tuple[QueryShot, ...] = (
    QueryShot("SUP-1042", Viewport(1000, 720)),
    QueryShot("SUP-1057", Viewport(430, 932, 2)),
    QueryShot("SUP-1063", Viewport(1100, 760)),
    QueryShot("SUP-1078", Viewport(360, 780, 2)),
    QueryShot("SUP-1096", Viewport(414, 896, 2)),
    QueryShot("SUP-1133", Viewport(1440, 900)),
    QueryShot("SUP-1185", Viewport(1024, 768)),
    QueryShot("SUP-1230", Viewport(1152, 720)),
)


# --------------------------------------------------------------------------- shared page parts

BASE_CSS = """
* { box-sizing: border-box; margin: 0; padding: 0; }
html, body { height: 100%; overflow: hidden; }
body { display: flex; flex-direction: column; background: var(--bg); color: var(--fg);
  font: 16px/1.45 "Liberation Sans", "Noto Sans CJK SC", "Noto Color Emoji", sans-serif; }
body.zh { font-family: "Noto Sans CJK SC", "Liberation Sans", "Noto Color Emoji", sans-serif; }
.light { --bg: #f3f4f7; --surface: #ffffff; --surface-2: #f6f7f9; --fg: #1c2130; --muted: #5d6678;
  --border: #dcdfe6; --danger: #c62828; --danger-bg: #fdeceb; --danger-border: #f1b9b5; --chrome: #e3e5ea;
  --ok: #1e8e3e; --shadow: 0 1px 3px rgba(16,24,40,.08), 0 6px 16px rgba(16,24,40,.06); }
.dark { --bg: #11141b; --surface: #1a1f29; --surface-2: #232936; --fg: #e9ecf2; --muted: #9ba4b7;
  --border: #323a4a; --danger: #ff7b72; --danger-bg: #3a1d21; --danger-border: #74343a; --chrome: #0b0d12;
  --ok: #4ade80; --shadow: 0 1px 3px rgba(0,0,0,.5); }
h1 { font-size: 26px; line-height: 1.25; } h2 { font-size: 19px; }
.muted { color: var(--muted); } .small { font-size: 14px; } .grow { flex: 1; }
.card { background: var(--surface); border: 1px solid var(--border); border-radius: 12px; box-shadow: var(--shadow); }
.btn { display: inline-flex; align-items: center; justify-content: center; height: 46px; padding: 0 20px;
  border-radius: 10px; font-weight: 600; font-size: 16px; font-family: inherit; border: 1px solid var(--border);
  background: var(--surface); color: var(--fg); white-space: nowrap; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn.block { display: flex; width: 100%; }
.field { margin-top: 14px; }
.field label { display: block; font-size: 14px; font-weight: 600; color: var(--muted); margin-bottom: 6px; }
.input { height: 46px; border: 1px solid var(--border); border-radius: 10px; background: var(--surface-2);
  padding: 0 14px; display: flex; align-items: center; gap: 10px; font-size: 16px; white-space: nowrap; overflow: hidden; }
.input.invalid { border-color: var(--danger); box-shadow: 0 0 0 3px var(--danger-bg); }
.row { display: flex; gap: 12px; } .row > * { flex: 1; }
.link { color: var(--accent); font-weight: 600; }

.browser { background: var(--chrome); padding: 8px 12px 10px; border-bottom: 1px solid var(--border); flex: none; }
.browser .tabs { display: flex; align-items: flex-end; height: 32px; gap: 14px; }
.lights { display: flex; gap: 8px; align-self: center; } .lights i { width: 12px; height: 12px; border-radius: 50%; display: block; }
.lights i:nth-child(1) { background: #ff5f57; } .lights i:nth-child(2) { background: #febc2e; } .lights i:nth-child(3) { background: #28c840; }
.browser .tab { background: var(--surface); border-radius: 8px 8px 0 0; padding: 7px 16px; font-size: 14px; min-width: 240px; }
.urlbar { margin-top: 0; height: 34px; border-radius: 17px; background: var(--surface); display: flex; align-items: center;
  padding: 0 16px; font-size: 14px; color: var(--muted); gap: 8px; }
.titlebar { height: 40px; background: var(--chrome); display: flex; align-items: center; padding: 0 14px;
  border-bottom: 1px solid var(--border); font-size: 14px; color: var(--muted); flex: none; }
.titlebar .title { flex: 1; text-align: center; margin-right: 52px; font-weight: 600; }
.statusbar { height: 46px; display: flex; align-items: center; justify-content: space-between; padding: 4px 28px 0;
  font-weight: 700; font-size: 16px; background: var(--surface); flex: none; }
.statusbar svg { display: block; }
.mobile-url { background: var(--surface); padding: 0 14px 8px; flex: none; }
.mobile-url div { height: 36px; border-radius: 10px; background: var(--surface-2); display: flex; align-items: center;
  justify-content: center; gap: 6px; font-size: 14px; color: var(--muted); }
.appbar { height: 62px; display: flex; align-items: center; gap: 12px; padding: 0 28px; background: var(--surface);
  border-bottom: 1px solid var(--border); flex: none; }
.appbar .logo { width: 34px; height: 34px; flex: none; }
.appbar .name { font-weight: 700; font-size: 20px; letter-spacing: -.2px; }
.appbar nav { display: flex; gap: 24px; margin-left: 30px; color: var(--muted); font-size: 15px; }
.appbar nav b { color: var(--fg); }
.appbar .user { margin-left: auto; display: flex; align-items: center; gap: 10px; font-size: 15px; color: var(--muted); }
.avatar { width: 34px; height: 34px; border-radius: 50%; background: var(--accent); color: #fff; display: flex;
  align-items: center; justify-content: center; font-weight: 700; font-size: 14px; flex: none; }
.phone .appbar { padding: 0 16px; height: 56px; } .phone .appbar nav, .phone .appbar .user span { display: none; }
main { flex: 1; overflow: hidden; position: relative; }

.alert { display: flex; gap: 12px; padding: 14px 16px; border-radius: 10px; background: var(--danger-bg);
  border: 1px solid var(--danger-border); margin: 16px 0 4px; text-align: left; }
.alert .icon { color: var(--danger); flex: none; margin-top: 1px; }
.alert-title { font-weight: 700; color: var(--danger); font-size: 17px; }
.alert-msg { margin-top: 2px; font-size: 16px; }
.alert-actions { margin-top: 8px; display: flex; gap: 18px; font-size: 15px; }
.err-meta { margin-top: 6px; font-size: 14px; color: var(--muted); }
.overlay { position: fixed; inset: 0; background: rgba(8,10,16,.55); display: flex; align-items: center;
  justify-content: center; padding: 24px; z-index: 10; }
.dialog { width: 480px; max-width: 100%; background: var(--surface); border-radius: 18px; padding: 30px 28px 24px;
  text-align: center; box-shadow: 0 24px 70px rgba(0,0,0,.4); border: 1px solid var(--border); }
.dialog .badge { width: 60px; height: 60px; border-radius: 50%; background: var(--danger-bg); color: var(--danger);
  display: flex; align-items: center; justify-content: center; margin: 0 auto 16px; }
.dialog h2 { font-size: 22px; margin-bottom: 10px; }
.dialog p { font-size: 17px; }
.dialog .actions { display: flex; gap: 12px; margin-top: 22px; } .dialog .actions .btn { flex: 1; }
.phone .dialog .actions { flex-direction: column-reverse; } .phone .dialog .actions .btn { flex: none; }
.toast { position: fixed; top: 116px; left: 14px; right: 14px; z-index: 10; display: flex; gap: 12px;
  padding: 14px 16px; border-radius: 14px; background: var(--surface); border: 1px solid var(--danger-border);
  box-shadow: 0 12px 34px rgba(0,0,0,.45); }
.toast .icon { color: var(--danger); flex: none; margin-top: 1px; }
.toast .alert-title { font-size: 17px; }
"""

SIGNAL_ICONS = """<span style="display:flex;gap:6px;align-items:center">
<svg width="18" height="12" viewBox="0 0 18 12" fill="currentColor"><rect x="0" y="8" width="3" height="4" rx="1"/>
<rect x="5" y="5" width="3" height="7" rx="1"/><rect x="10" y="2.5" width="3" height="9.5" rx="1"/>
<rect x="15" y="0" width="3" height="12" rx="1"/></svg>
<svg width="16" height="12" viewBox="0 0 16 12" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">
<path d="M1 4.5a10 10 0 0 1 14 0"/><path d="M3.8 7.3a6 6 0 0 1 8.4 0"/><circle cx="8" cy="10.3" r="1" fill="currentColor"/></svg>
<svg width="27" height="13" viewBox="0 0 27 13"><rect x=".5" y=".5" width="23" height="12" rx="3.5" fill="none"
stroke="currentColor" opacity=".45"/><rect x="2.5" y="2.5" width="15" height="8" rx="2" fill="currentColor"/>
<rect x="25" y="4.5" width="1.5" height="4" rx=".7" fill="currentColor" opacity=".45"/></svg></span>"""


def icon(name: str, size: int = 24) -> str:
    """Inline stroke icons (24x24 grid) so pages need nothing from the network."""
    paths = {
        "error": '<circle cx="12" cy="12" r="10"/><path d="M12 7v6"/><path d="M12 16.8v.2"/>',
        "lock": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/>',
        "check": '<circle cx="12" cy="12" r="10"/><path d="m7.5 12.5 3 3 6-6"/>',
        "cloud": '<path d="M7 18h10a4 4 0 0 0 .6-7.96A6 6 0 0 0 6.1 9.1 4.5 4.5 0 0 0 7 18z"/>',
        "file": '<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5"/>',
        "folder": '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
        "search": '<circle cx="11" cy="11" r="7"/><path d="m20 20-3.5-3.5"/>',
        "menu": '<path d="M4 7h16M4 12h16M4 17h16"/>',
        "back": '<path d="M15 5l-7 7 7 7"/>',
        "pin": '<path d="M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21z"/><circle cx="12" cy="9.5" r="2.5"/>',
        "clip": '<path d="M21 11.5 12.5 20a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2L9.9 17.4a1.8 1.8 0 0 1-2.6-2.6l7.8-7.8"/>',
        "sync": '<path d="M20 11a8 8 0 0 0-14.3-4.9L4 8"/><path d="M4 3v5h5"/><path d="M4 13a8 8 0 0 0 14.3 4.9L20 16"/><path d="M20 21v-5h-5"/>',
        "face": '<path d="M4 8V6a2 2 0 0 1 2-2h2M16 4h2a2 2 0 0 1 2 2v2M20 16v2a2 2 0 0 1-2 2h-2M8 20H6a2 2 0 0 1-2-2v-2"/><path d="M9 9v1M15 9v1M12 9v4h-1M9.5 16a4 4 0 0 0 5 0"/>',
        "power": '<path d="M12 3v9"/><path d="M6.3 7.1a8 8 0 1 0 11.4 0"/>',
        "send": '<path d="m4 12 16-8-6 16-2-7z"/>',
    }
    return (
        f'<svg class="icon" width="{size}" height="{size}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{paths[name]}</svg>'
    )


def inline_error(s: ErrorScreen) -> str:
    """The in-page alert, placed by each app where its form shows errors (banner style only)."""
    if s.style != "banner":
        return ""
    return f"""<div class="alert">{icon("error")}<div>
  <div class="alert-title">{escape(s.title)}</div><div class="alert-msg">{escape(s.message)}</div>
  <div class="err-meta">{s.t("Reference", "参考编号")} {s.reference} · {s.timestamp}</div>
  <div class="alert-actions"><span class="link">{escape(s.actions[0])}</span><span class="link">{escape(s.actions[1])}</span></div>
</div></div>"""


def floating_error(s: ErrorScreen) -> str:
    """A modal dialog or a toast drawn over the app (dialog and toast styles)."""
    if s.style == "dialog":
        return f"""<div class="overlay"><div class="dialog">
  <div class="badge">{icon("error", 32)}</div><h2>{escape(s.title)}</h2><p>{escape(s.message)}</p>
  <div class="err-meta">{s.t("Reference", "参考编号")} {s.reference} · {s.timestamp}</div>
  <div class="actions"><span class="btn">{escape(s.actions[0])}</span><span class="btn primary">{escape(s.actions[1])}</span></div>
</div></div>"""
    if s.style == "toast":
        return f"""<div class="toast">{icon("error")}<div class="grow">
  <div class="alert-title" style="color:var(--danger)">{escape(s.title)}</div><div class="alert-msg">{escape(s.message)}</div>
  <div class="err-meta">{s.t("Reference", "参考编号")} {s.reference}</div>
  <div class="alert-actions"><span class="link">{escape(s.actions[0])}</span><span class="muted">{escape(s.actions[1])}</span></div>
</div></div>"""
    return ""


# --------------------------------------------------------------------------- fictional apps


@dataclass(frozen=True)
class App:
    name: str
    accent: str
    logo: str  # SVG drawn in white on a 32x32 accent tile
    web: bool  # web apps get browser chrome, native desktop apps a window title bar
    url: str
    nav: tuple[tuple[str, str], ...]  # (en, zh) labels; the first one is the current page
    css: str
    body: Callable[[ErrorScreen], str]


def logo_svg(app: App, size: int = 34) -> str:
    return (
        f'<svg class="logo" width="{size}" height="{size}" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" '
        f'fill="{app.accent}"/><g fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" '
        f'stroke-linejoin="round">{app.logo}</g></svg>'
    )


def payflow_body(s: ErrorScreen) -> str:
    if s.lang == "zh":
        items = (("耶加雪菲咖啡豆 1kg", "¥328.00"), ("手冲陶瓷滤杯套装", "¥230.00"), ("运费", "¥40.00"))
        total = "¥598.00"
    else:
        items = (
            ("Ethiopia Yirgacheffe beans, 1 kg", "€42.00"),
            ("Ceramic pour-over set", "€34.90"),
            ("Shipping", "€8.00"),
        )
        total = "€84.90"
    lines = "".join(f'<div class="line"><span>{name}</span><span>{price}</span></div>' for name, price in items)
    invalid = " invalid" if s.style == "banner" else ""
    return f"""<div class="pf">
<section class="card pf-pay">
  <h1>{s.t("Checkout", "确认支付")}</h1>
  <p class="muted">{s.t("Merchant", "商户")}: {s.t("Lumen Coffee Roasters", "山茶咖啡烘焙坊")}</p>
  {inline_error(s)}
  <div class="field"><label>{s.t("Card number", "银行卡号")}</label>
    <div class="input{invalid}">•••• •••• •••• 1881<span class="grow"></span><b class="visa">VISA</b></div></div>
  <div class="row">
    <div class="field"><label>{s.t("Expiry", "有效期")}</label><div class="input">08 / 27</div></div>
    <div class="field"><label>CVC</label><div class="input">•••</div></div>
  </div>
  <div class="field"><label>{s.t("Name on card", "持卡人姓名")}</label><div class="input">{s.t("Maria Jensen", "王小明")}</div></div>
  <span class="btn primary block pay">{s.t("Pay", "支付")} {total}</span>
  <p class="muted small secure">{icon("lock", 16)} {s.t("Payments are encrypted and processed by PayFlow.", "支付信息已加密，由 PayFlow 安全处理。")}</p>
</section>
<aside class="card pf-summary">
  <h2>{s.t("Order summary", "订单摘要")}</h2>{lines}
  <div class="line total"><span>{s.t("Total", "合计")}</span><span>{total}</span></div>
  <p class="muted small">{s.t("Order", "订单号")} #LC-20931</p>
</aside></div>"""


PAYFLOW_CSS = """
.pf { display: flex; gap: 28px; padding: 32px 48px; align-items: flex-start; justify-content: center; }
.pf-pay { flex: 0 1 560px; padding: 28px 32px; } .pf-summary { flex: 0 1 360px; padding: 24px 26px; }
.pf .visa { color: #1a1f71; font-style: italic; letter-spacing: .5px; } .dark .pf .visa { color: #9db4ff; }
.pf .pay { margin-top: 22px; height: 50px; font-size: 17px; }
.pf .secure { margin-top: 14px; display: flex; gap: 6px; align-items: center; }
.pf-summary h2 { margin-bottom: 12px; }
.pf .line { display: flex; justify-content: space-between; gap: 12px; padding: 9px 0; border-bottom: 1px solid var(--border); }
.pf .line.total { font-weight: 700; font-size: 18px; border-bottom: 0; }
.phone .pf { flex-direction: column-reverse; padding: 14px; gap: 12px; align-items: stretch; }
.phone .pf-pay { flex: none; padding: 20px 18px; } .phone .pf-summary { flex: none; padding: 12px 18px; }
.phone .pf-summary .line:not(.total), .phone .pf-summary h2, .phone .pf-summary p { display: none; }
.phone .pf h1 { font-size: 23px; }
"""


def nimbus_body(s: ErrorScreen) -> str:
    account = "m.jensen@acme-corp.example" if s.lang == "en" else "li.na@qiyun-tech.example"
    if s.view == "mfa":
        digits = "".join(f'<span class="digit">{d}</span>' for d in "481902")
        form = f"""<h1>{s.t("Two-step verification", "两步验证")}</h1>
  <p class="muted">{s.t("Enter the 6-digit code from your authenticator app.", "请输入身份验证器中的 6 位验证码。")}</p>
  {inline_error(s)}<div class="digits">{digits}</div>
  <span class="btn primary block go">{s.t("Verify", "验证")}</span>
  <p class="muted small center">{s.t("Signing in as", "登录账号")} {account}</p>"""
    elif s.view == "activate":
        form = f"""<h1>{s.t("Activate your account", "激活您的账户")}</h1>
  <p class="muted">{s.t("Welcome to Acme Workspace.", "欢迎加入 启云科技 工作空间。")}</p>
  {inline_error(s)}
  <div class="field"><label>{s.t("Email", "邮箱")}</label><div class="input">{account}</div></div>
  <div class="field"><label>{s.t("Invited by", "邀请人")}</label><div class="input">{s.t("IT Admin", "IT 管理员 张伟")}</div></div>
  <span class="btn primary block go">{escape(s.actions[0])}</span>
  <p class="muted small center"><span class="link">{escape(s.actions[1])}</span></p>"""
    else:
        password_label = s.t("Password", "密码")
        form = f"""<h1>{s.t("Sign in", "登录")}</h1>
  <p class="muted">{s.t("to continue to Acme Workspace", "继续访问 启云科技 工作空间")}</p>
  {inline_error(s)}
  <div class="field"><label>{s.t("Email", "邮箱")}</label><div class="input">{account}</div></div>
  <div class="field"><label>{password_label}</label><div class="input{" invalid" if s.view == "password" else ""}">••••••••••••</div></div>
  <div class="opts"><span>☑ {s.t("Keep me signed in", "保持登录")}</span><span class="link">{s.t("Forgot password?", "忘记密码？")}</span></div>
  <span class="btn primary block go">{s.t("Sign in", "登录")}</span>
  <div class="or"><span>{s.t("or", "或")}</span></div>
  <span class="btn block">{s.t("Sign in with SSO", "使用企业单点登录 (SSO)")}</span>"""
    return f"""<div class="nb"><section class="card nb-card">
  <div class="brand">{logo_svg(APPS["nimbus"], 40)}<b>Nimbus ID</b></div>{form}
</section>
<footer class="muted small">{s.t("Privacy · Terms · Help", "隐私政策 · 服务条款 · 帮助中心")} · © 2025 Nimbus Identity</footer></div>"""


NIMBUS_CSS = """
.nb { height: 100%; display: flex; flex-direction: column; align-items: center; justify-content: safe center; gap: 14px;
  background: radial-gradient(circle at 20% 10%, rgba(14,165,233,.18), transparent 45%), var(--bg); padding: 20px; }
.nb-card { width: 440px; max-width: 100%; padding: 24px 34px; }
.nb .brand { display: flex; align-items: center; gap: 10px; font-size: 20px; margin-bottom: 12px; }
.nb h1 { font-size: 25px; } .nb .go { margin-top: 20px; } .nb .center { text-align: center; margin-top: 14px; }
.nb .opts { display: flex; justify-content: space-between; margin-top: 14px; font-size: 15px; }
.nb .or { text-align: center; margin: 16px 0; color: var(--muted); font-size: 14px; border-top: 1px solid var(--border); height: 0; }
.nb .or span { position: relative; top: -11px; background: var(--surface); padding: 0 10px; }
.nb .digits { display: flex; gap: 8px; margin-top: 16px; }
.nb .digit { flex: 1; height: 56px; border: 1px solid var(--danger); border-radius: 10px; display: flex; align-items: center;
  justify-content: center; font-size: 24px; font-weight: 700; background: var(--surface-2); }
.phone .nb { justify-content: flex-start; padding: 14px; background: var(--surface); }
.phone .nb-card { border: 0; box-shadow: none; padding: 14px 6px; }
.phone .nb footer { margin-top: auto; }
"""


def skyvault_body(s: ErrorScreen) -> str:
    if s.lang == "zh":
        files = (
            ("季度报告_终稿.pdf", "今天 09:12", "4.2 MB", "ok"),
            ("报价单: 第3版?.docx", "今天 08:57", "312 KB", "err"),
            ("团队合影.jpg", "昨天", "6.8 MB", "ok"),
            ("设计稿", "3月2日", "—", "ok"),
            ("会议纪要 2024-10-28.md", "10月28日", "18 KB", "ok"),
            ("客户名单.xlsx", "10月25日", "1.1 MB", "ok"),
        )
    else:
        files = (
            ("Budget 2025.xlsx", "Today 09:12", "1.4 MB", "err" if s.error_code == "E-SYNC-409" else "ok"),
            ("Site photos", "Today 08:40", "—", "pending" if s.error_code == "E-SYNC-507" else "ok"),
            ("Client deck v7.pptx", "Yesterday", "48.6 MB", "pending" if s.error_code == "E-SYNC-507" else "ok"),
            ("Invoices 2024.zip", "Mar 2", "212 MB", "ok"),
            ("Team offsite.mov", "Feb 27", "3.1 GB", "ok"),
            ("Notes.md", "Feb 21", "18 KB", "ok"),
        )
    status_text = {
        "ok": s.t("Up to date", "已同步"),
        "err": s.t("Sync error", "同步失败"),
        "pending": s.t("Waiting for space", "等待空间"),
    }
    rows = "".join(
        f'<tr class="{state}"><td>{icon("folder" if size == "—" else "file", 20)} {escape(name)}</td>'
        f"<td>{when}</td><td>{size}</td><td>{status_text[state]}</td></tr>"
        for name, when, size, state in files
    )
    full = s.error_code == "E-SYNC-507"
    used, pct = ("100 GB", 100) if full else ("61.3 GB", 61)
    nav = (
        ("All files", "全部文件"),
        ("Shared", "共享"),
        ("Recent", "最近"),
        ("Offline", "离线可用"),
        ("Trash", "回收站"),
    )
    side = "".join(f"<li{' class=on' if i == 0 else ''}>{s.t(*label)}</li>" for i, label in enumerate(nav))
    return f"""<div class="sv"><aside class="sv-side"><ul>{side}</ul>
  <div class="quota"><div class="bar"><i style="width:{pct}%"></i></div>
  <div class="small">{used} {s.t("of 100 GB used", "/ 100 GB 已使用")}</div></div></aside>
<section class="sv-main">
  <div class="sv-head"><h1>{s.t("All files", "全部文件")}</h1><span class="grow"></span>
  <span class="sync-state">{icon("sync", 18)} {s.t("Sync paused" if full else "Syncing 1 item…", "同步已暂停")}</span>
  <span class="btn primary">{s.t("Upload", "上传")}</span></div>
  {inline_error(s)}
  <table><thead><tr><th>{s.t("Name", "名称")}</th><th>{s.t("Modified", "修改时间")}</th><th>{s.t("Size", "大小")}</th>
  <th>{s.t("Status", "状态")}</th></tr></thead><tbody>{rows}</tbody></table>
</section></div>"""


SKYVAULT_CSS = """
.sv { display: flex; height: 100%; }
.sv-side { width: 230px; background: var(--surface); border-right: 1px solid var(--border); padding: 18px 12px; display: flex; flex-direction: column; }
.sv-side ul { list-style: none; } .sv-side li { padding: 9px 14px; border-radius: 8px; font-size: 16px; }
.sv-side li.on { background: color-mix(in srgb, var(--accent) 16%, transparent); color: var(--accent); font-weight: 700; }
.quota { margin-top: auto; padding: 14px; } .bar { height: 8px; border-radius: 4px; background: var(--surface-2); overflow: hidden; margin-bottom: 8px; }
.bar i { display: block; height: 100%; background: var(--accent); }
.sv-main { flex: 1; padding: 24px 32px; overflow: hidden; }
.sv-head { display: flex; align-items: center; gap: 16px; }
.sync-state { display: flex; align-items: center; gap: 6px; color: var(--muted); font-size: 15px; }
.sv table { width: 100%; border-collapse: collapse; margin-top: 18px; font-size: 15px; }
.sv th { text-align: left; color: var(--muted); font-weight: 600; font-size: 14px; padding: 8px 10px; border-bottom: 1px solid var(--border); }
.sv td { padding: 12px 10px; border-bottom: 1px solid var(--border); white-space: nowrap; }
.sv td:first-child { display: flex; align-items: center; gap: 10px; }
.sv tr.ok td:last-child { color: var(--ok); } .sv tr.pending td:last-child { color: var(--muted); }
.sv tr.err td { background: var(--danger-bg); } .sv tr.err td:last-child { color: var(--danger); font-weight: 700; }
"""


def harbor_body(s: ErrorScreen) -> str:
    balance = s.t("$12,480.22", "¥86,420.50")
    header = f"""<div class="hb-top"><div class="muted">{s.t("Good morning,", "早上好，")}</div>
  <div class="hb-name">{s.t("Maria Jensen", "王小明")}</div>
  <div class="hb-balance"><div class="small">{s.t("Everyday Checking ••• 3310", "活期储蓄卡 ••• 3310")}</div>
  <div class="amount">{balance}</div><div class="small">{s.t("Available balance", "可用余额")}</div></div></div>"""
    if s.view == "transfer":
        amount = s.t("$6,200.00", "¥15,000.00")
        payee = s.t("Jordan Lee · Coastline Credit Union", "李文博 · 招商银行")
        content = f"""<h2>{s.t("Send money", "转账")}</h2>
  <div class="field"><label>{s.t("To", "收款人")}</label><div class="input">{payee}</div></div>
  <div class="field"><label>{s.t("Account number", "收款账号")}</label><div class="input">6214 •••• •••• 0937</div></div>
  <div class="field"><label>{s.t("Amount", "金额")}</label><div class="input big">{amount}</div></div>
  <div class="field"><label>{s.t("Note", "备注")}</label><div class="input">{s.t("Rent – June", "房租 1月")}</div></div>
  <span class="btn primary block go">{s.t("Review transfer", "确认转账")}</span>"""
    else:
        activity = (
            (s.t("Blue Bottle Coffee", "星巴克 国贸店"), s.t("Today", "今天"), s.t("-$6.75", "-¥38.00")),
            (
                s.t("Payroll – Northwind Ltd", "工资 – 北辰科技"),
                s.t("Yesterday", "昨天"),
                s.t("+$3,940.00", "+¥21,500.00"),
            ),
            (s.t("City Power & Light", "国家电网 电费"), s.t("Jun 28", "12月5日"), s.t("-$112.40", "-¥264.30")),
        )
        rows = "".join(
            f'<div class="tx"><div><b>{who}</b><div class="small muted">{when}</div></div><b>{amt}</b></div>'
            for who, when, amt in activity
        )
        actions = (("Transfer", "转账"), ("Pay bills", "缴费"), ("Deposit", "存入"), ("Cards", "卡片"))
        tiles = "".join(f'<div class="tile"><i></i>{s.t(*label)}</div>' for label in actions)
        content = f"""<div class="tiles">{tiles}</div><h2>{s.t("Recent activity", "近期交易")}</h2>{rows}"""
    return f"""<div class="hb">{header}<section class="hb-sheet">{inline_error(s)}{content}</section>
<nav class="tabbar"><b>{s.t("Home", "首页")}</b><span>{s.t("Payments", "支付")}</span><span>{s.t("Cards", "卡片")}</span><span>{s.t("Profile", "我的")}</span></nav></div>"""


HARBOR_CSS = """
.hb { height: 100%; display: flex; flex-direction: column; }
.hb-top { background: linear-gradient(160deg, var(--accent), #0b3b5c); color: #fff; padding: 18px 22px 26px; }
.hb-top .muted { color: rgba(255,255,255,.8); } .hb-name { font-size: 22px; font-weight: 700; }
.hb-balance { margin-top: 14px; background: rgba(255,255,255,.14); border-radius: 14px; padding: 14px 16px; }
.hb-balance .amount { font-size: 30px; font-weight: 700; margin: 2px 0; }
.hb-sheet { flex: 1; background: var(--surface); margin-top: -12px; border-radius: 18px 18px 0 0; padding: 18px 20px; overflow: hidden; }
.hb-sheet h2 { margin-top: 8px; }
.hb .input.big { font-size: 22px; font-weight: 700; height: 54px; } .hb .go { margin-top: 18px; }
.tiles { display: flex; gap: 10px; margin-bottom: 14px; } .tile { flex: 1; text-align: center; font-size: 14px; }
.tile i { display: block; width: 48px; height: 48px; border-radius: 14px; margin: 0 auto 6px; background: color-mix(in srgb, var(--accent) 20%, var(--surface-2)); }
.tx { display: flex; justify-content: space-between; align-items: center; padding: 12px 0; border-bottom: 1px solid var(--border); }
.tabbar { display: flex; justify-content: space-around; padding: 12px 0 22px; border-top: 1px solid var(--border); background: var(--surface); font-size: 14px; color: var(--muted); }
.tabbar b { color: var(--accent); }
"""


def zipp_body(s: ErrorScreen) -> str:
    streets = "".join(
        f'<path d="M{x} -10 L{x + 70} 900" /><path d="M-10 {y} L420 {y - 60}" />'
        for x, y in ((40, 120), (150, 260), (260, 400), (350, 540))
    )
    rides = (
        ("ZippX", s.t("4 min · 4 seats", "4 分钟 · 4 座"), s.t("$18.40", "¥32.50")),
        ("Zipp Comfort", s.t("6 min · newer cars", "6 分钟 · 舒适型"), s.t("$24.10", "¥46.00")),
        ("Zipp XL", s.t("9 min · 6 seats", "9 分钟 · 6 座"), s.t("$31.75", "¥68.00")),
    )
    options = "".join(
        f'<div class="ride{" on" if i == 0 else ""}"><span class="car">🚗</span><div class="grow"><b>{name}</b>'
        f'<div class="small muted">{eta}</div></div><b>{price}</b></div>'
        for i, (name, eta, price) in enumerate(rides)
    )
    pickup = s.t("Terminal B Arrivals, Door 4", "望京 SOHO T1 东门")
    dropoff = s.t("1450 Harbor Blvd", "三里屯太古里南区")
    return f"""<div class="zp"><svg class="map" viewBox="0 0 400 800" preserveAspectRatio="xMidYMid slice">
  <rect width="400" height="800" fill="var(--map)"/><g stroke="var(--road)" stroke-width="14" fill="none">{streets}</g>
  <path d="M110 150 C 170 120, 240 110, 300 50" stroke="var(--accent)" stroke-width="6" fill="none" stroke-dasharray="2 10" stroke-linecap="round"/>
  <circle cx="110" cy="150" r="11" fill="var(--accent)" stroke="#fff" stroke-width="4"/>
  <rect x="290" y="40" width="20" height="20" fill="#111" stroke="#fff" stroke-width="4"/></svg>
<section class="zp-sheet">{inline_error(s)}
  <div class="stops"><div>{icon("pin", 18)} <b>{pickup}</b></div><div>{icon("pin", 18)} {dropoff}</div></div>
  {options}<span class="btn primary block go">{s.t("Request ZippX", "呼叫 ZippX")}</span></section></div>"""


ZIPP_CSS = """
.light .zp { --map: #e8eef2; --road: #ffffff; } .dark .zp { --map: #1d2430; --road: #2c3546; }
.zp { height: 100%; position: relative; }
.zp .map { position: absolute; inset: 0; width: 100%; height: 100%; }
.zp-sheet { position: absolute; left: 0; right: 0; bottom: 0; background: var(--surface); border-radius: 22px 22px 0 0;
  padding: 16px 18px 26px; box-shadow: 0 -8px 30px rgba(0,0,0,.2); }
.zp .stops { display: flex; flex-direction: column; gap: 8px; padding: 6px 0 12px; border-bottom: 1px solid var(--border); font-size: 15px; }
.zp .stops div { display: flex; gap: 8px; align-items: center; }
.zp .ride { display: flex; align-items: center; gap: 12px; padding: 10px 12px; border-radius: 12px; margin-top: 6px; }
.zp .ride.on { background: var(--surface-2); outline: 2px solid var(--accent); }
.zp .car { font-size: 28px; } .zp .go { margin-top: 14px; }
"""


def shopnest_body(s: ErrorScreen) -> str:
    if s.lang == "zh":
        items = (
            ("北欧风陶瓷台灯", "¥299.00", "#e9c46a"),
            ("纯棉四件套 1.8m", "¥459.00", "#8ab17d"),
            ("香薰蜡烛 礼盒装", "¥129.00", "#e76f51"),
        )
        address = "王芳 · 138 **** 6621<br>上海市浦东新区世纪大道 1088 号 2306 室"
        totals = (("商品金额", "¥887.00"), ("优惠券 SAVE50", "-¥50.00"), ("运费", "免运费"))
        total = "¥837.00"
    else:
        items = (
            ("Aurora Desk Lamp", "$89.00", "#e9c46a"),
            ("Linen Throw Pillow (2)", "$54.00", "#8ab17d"),
            ("Cedar Candle Set", "$32.00", "#e76f51"),
        )
        address = "Dana Whitfield<br>418 Grand Ave, Apt 5<br>Oakland, CA 94016"
        totals = (("Subtotal", "$175.00"), ("Shipping", "$6.99"), ("Tax", "$15.31"))
        total = "$197.30"
    products = "".join(
        f'<div class="item{" gone" if i == 0 and s.error_code == "SN-4404" else ""}"><i style="background:{color}"></i>'
        f'<div class="grow"><b>{name}</b><div class="small muted">{s.t("Qty", "数量")} 1</div></div><b>{price}</b></div>'
        for i, (name, price, color) in enumerate(items)
    )
    sums = "".join(f'<div class="sum"><span>{label}</span><span>{value}</span></div>' for label, value in totals)
    invalid = " invalid" if s.error_code == "SN-3012" else ""
    return f"""<div class="sn"><div class="sn-search">{icon("search", 18)} {s.t("Search home goods, decor, bedding…", "搜索家居、装饰、床品…")}</div>
<h1>{s.t("Review your order", "确认订单")}</h1>{inline_error(s)}
<div class="sn-cols"><div class="sn-left">
  <section class="card"><h2>{s.t("Shipping address", "收货地址")}</h2><div class="addr{invalid}">{address}</div></section>
  <section class="card"><h2>{s.t("Items", "商品清单")}</h2>{products}</section></div>
  <section class="card sn-total"><h2>{s.t("Order summary", "订单金额")}</h2>{sums}
  <div class="sum grand"><span>{s.t("Total", "实付款")}</span><span>{total}</span></div>
  <span class="btn primary block">{s.t("Place order", "提交订单")}</span></section></div></div>"""


SHOPNEST_CSS = """
.sn { padding: 20px 48px; } .sn h1 { margin-top: 14px; font-size: 24px; }
.sn-search { height: 42px; border-radius: 21px; background: var(--surface); border: 1px solid var(--border); display: flex;
  align-items: center; gap: 8px; padding: 0 18px; color: var(--muted); font-size: 15px; max-width: 560px; }
.sn-cols { display: flex; gap: 22px; margin-top: 14px; align-items: flex-start; }
.sn-left { flex: 1; display: flex; flex-direction: column; gap: 16px; }
.sn .card { padding: 18px 22px; } .sn .card h2 { font-size: 18px; margin-bottom: 10px; }
.sn .addr { line-height: 1.6; padding: 8px 12px; border-radius: 8px; border: 1px solid transparent; }
.sn .addr.invalid { border-color: var(--danger); background: var(--danger-bg); }
.sn .item { display: flex; gap: 14px; align-items: center; padding: 9px 0; border-top: 1px solid var(--border); }
.sn .item i { width: 52px; height: 52px; border-radius: 10px; flex: none; }
.sn .item.gone { opacity: .55; } .sn .item.gone b:first-child { text-decoration: line-through; }
.sn-total { width: 340px; flex: none; } .sn .sum { display: flex; justify-content: space-between; padding: 7px 0; }
.sn .sum.grand { font-weight: 700; font-size: 19px; border-top: 1px solid var(--border); margin: 6px 0 14px; padding-top: 12px; }
.phone .sn { padding: 12px 14px; } .phone .sn-cols { flex-direction: column; align-items: stretch; }
.phone .sn-total { width: auto; } .phone .sn h1 { font-size: 22px; }
"""


def inkwell_body(s: ErrorScreen) -> str:
    folders = (
        ("Inbox", "收件箱", "12"),
        ("Starred", "星标邮件", ""),
        ("Sent", "已发送", ""),
        ("Drafts", "草稿箱", "2"),
        ("Outbox", "发件箱", "1" if s.error_code == "SMTP-421" else ""),
        ("Spam", "垃圾邮件", "37"),
    )
    side = "".join(
        f"<li{' class=on' if i == 0 else ''}><span>{s.t(en, zh)}</span><b>{count}</b></li>"
        for i, (en, zh, count) in enumerate(folders)
    )
    if s.lang == "zh":
        mails = (
            ("顺丰速运", "您的快件已签收", "09:41"),
            ("张伟", "回复：下周项目评审安排", "09:12"),
            ("招商银行", "11月信用卡电子账单", "昨天"),
            ("人事部", "关于春节放假安排的通知", "昨天"),
            ("刘洋", "设计稿第二版", "周一"),
        )
    else:
        mails = (
            ("Northwind HR", "Benefits enrollment closes Friday", "9:41 AM"),
            ("Priya Shah", "Re: Q3 site visit photos", "9:12 AM"),
            ("SkyVault", "Your weekly storage summary", "Yesterday"),
            ("Tom Becker", "Lunch on Thursday?", "Yesterday"),
            ("City Library", "Your hold is ready for pickup", "Mon"),
        )
    inbox = "".join(
        f'<div class="mail{" on" if i == 1 else ""}"><div class="from"><b>{who}</b><span class="small muted">{when}</span></div>'
        f'<div class="subj">{subject}</div></div>'
        for i, (who, subject, when) in enumerate(mails)
    )
    if s.view == "compose":
        attachment = (
            f'<div class="chip bad">{icon("clip", 16)} site-walkthrough.mp4 · 60.2 MB</div>'
            if s.error_code == "MX-552"
            else f'<div class="chip">{icon("clip", 16)} 项目计划书_v2.pdf · 2.3 MB</div>'
        )
        pane = f"""<div class="compose"><div class="chead"><b>{s.t("New message", "写邮件")}</b></div>
  <div class="cfield"><span class="muted">{s.t("To", "收件人")}</span> {s.t("priya.shah@northwind.example", "zhang.wei@huaxin-design.example")}</div>
  <div class="cfield"><span class="muted">{s.t("Subject", "主题")}</span> {s.t("Site walkthrough video", "项目计划书第二版，请查收")}</div>
  {inline_error(s)}<div class="cbody">{s.t("Hi Priya,<br><br>Here's the walkthrough video from Tuesday's visit. Let me know if the north wing shots work for the report.<br><br>Thanks,<br>Maria", "张工，您好：<br><br>附件是项目计划书第二版，主要调整了第三阶段的排期，请您审阅。<br><br>谢谢！<br>刘洋")}</div>
  {attachment}<div class="cfoot"><span class="btn primary">{icon("send", 18)}&nbsp;{s.t("Send", "发送")}</span></div></div>"""
    else:
        pane = f"""<div class="reader">{inline_error(s)}<h2>{mails[1][1]}</h2><div class="muted small">{mails[1][0]} · {mails[1][2]}</div>
  <p>{s.t("Hi Maria, attached are the photos from the north wing. The contractor needs the report by Friday.", "")}</p></div>"""
    return f"""<div class="iw"><aside class="iw-side"><span class="btn primary block">{s.t("Compose", "写邮件")}</span><ul>{side}</ul></aside>
<section class="iw-list"><div class="iw-search">{icon("search", 16)} {s.t("Search mail", "搜索邮件")}</div>{inbox}</section>
<section class="iw-pane">{pane}</section></div>"""


INKWELL_CSS = """
.iw { display: flex; height: 100%; }
.iw-side { width: 210px; padding: 16px 12px; background: var(--surface-2); border-right: 1px solid var(--border); }
.iw-side ul { list-style: none; margin-top: 14px; }
.iw-side li { display: flex; justify-content: space-between; padding: 8px 12px; border-radius: 8px; font-size: 15px; }
.iw-side li.on { background: color-mix(in srgb, var(--accent) 18%, transparent); font-weight: 700; }
.iw-list { width: 330px; border-right: 1px solid var(--border); background: var(--surface); }
.iw-search { margin: 12px; height: 38px; border-radius: 8px; background: var(--surface-2); display: flex; align-items: center; gap: 8px; padding: 0 12px; color: var(--muted); font-size: 15px; }
.mail { padding: 12px 16px; border-bottom: 1px solid var(--border); font-size: 15px; }
.mail.on { background: color-mix(in srgb, var(--accent) 12%, transparent); }
.mail .from { display: flex; justify-content: space-between; } .mail .subj { color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.iw-pane { flex: 1; padding: 20px 26px; overflow: hidden; }
.reader p { margin-top: 16px; font-size: 16px; }
.compose { background: var(--surface); border: 1px solid var(--border); border-radius: 12px; box-shadow: var(--shadow); padding: 0 20px 18px; }
.chead { padding: 12px 0; border-bottom: 1px solid var(--border); font-size: 16px; }
.cfield { padding: 10px 0; border-bottom: 1px solid var(--border); font-size: 15px; } .cfield .muted { display: inline-block; width: 64px; }
.cbody { padding: 14px 0; font-size: 16px; line-height: 1.6; }
.chip { display: inline-flex; gap: 8px; align-items: center; padding: 8px 12px; border-radius: 8px; background: var(--surface-2); border: 1px solid var(--border); font-size: 14px; }
.chip.bad { border-color: var(--danger); color: var(--danger); }
.cfoot { margin-top: 14px; }
"""


def tunnelguard_body(s: ErrorScreen) -> str:
    servers = (
        ("🇯🇵", s.t("Tokyo 2", "东京 2"), "38 ms"),
        ("🇩🇪", s.t("Frankfurt 3", "法兰克福 3"), "142 ms"),
        ("🇺🇸", s.t("New York 1", "纽约 1"), "188 ms"),
        ("🇸🇬", s.t("Singapore 4", "新加坡 4"), "61 ms"),
        ("🇬🇧", s.t("London 2", "伦敦 2"), "151 ms"),
    )
    chosen = 1 if s.error_code == "TG-1201" else 0
    rows = "".join(
        f'<div class="srv{" on" if i == chosen else ""}"><span class="flag">{flag}</span><b class="grow">{city}</b>'
        f'<span class="muted small">{ping}</span></div>'
        for i, (flag, city, ping) in enumerate(servers)
    )
    return f"""<div class="tg"><section class="tg-status">
  <div class="ring">{icon("power", 64)}</div>
  <h1>{s.t("Not connected", "未连接")}</h1>
  <p class="muted">{s.t("Your IP", "当前 IP")}: 203.0.113.48 · {s.t("Protocol", "协议")}: WireGuard® / UDP</p>
  {inline_error(s)}
  <span class="btn primary connect">{s.t("Connect", "连接")}</span></section>
<section class="tg-list"><h2>{s.t("Locations", "服务器位置")}</h2><div class="muted small">{s.t("Fastest first", "按速度排序")}</div>{rows}</section></div>"""


TUNNELGUARD_CSS = """
.tg { display: flex; height: 100%; gap: 0; }
.tg-status { flex: 1; display: flex; flex-direction: column; align-items: center; padding: 40px 48px; text-align: center; }
.tg .ring { width: 150px; height: 150px; border-radius: 50%; border: 6px solid var(--border); display: flex;
  align-items: center; justify-content: center; color: var(--muted); margin-bottom: 20px; }
.tg h1 { font-size: 28px; } .tg .alert { max-width: 560px; width: 100%; }
.tg .connect { margin-top: 20px; width: 240px; height: 52px; font-size: 18px; border-radius: 26px; }
.tg-list { width: 360px; padding: 24px; border-left: 1px solid var(--border); background: var(--surface); }
.tg .srv { display: flex; align-items: center; gap: 12px; padding: 12px 10px; border-bottom: 1px solid var(--border); font-size: 16px; }
.tg .srv.on { background: var(--surface-2); border-radius: 10px; } .tg .flag { font-size: 24px; }
.phone .tg { flex-direction: column; } .phone .tg-status { flex: none; padding: 22px 18px 8px; }
.phone .tg .ring { width: 110px; height: 110px; margin-bottom: 12px; } .phone .tg h1 { font-size: 24px; }
.phone .tg-list { width: auto; border-left: 0; padding: 12px 18px; }
"""


APPS: dict[str, App] = {
    "payflow": App(
        name="PayFlow",
        accent="#5b4cf0",
        logo='<path d="M8 22c3-12 7-12 8-6s5 6 8-6"/>',
        web=True,
        url="checkout.payflow.example/pay/LC-20931",
        nav=(("Checkout", "支付"), ("Help", "帮助")),
        css=PAYFLOW_CSS,
        body=payflow_body,
    ),
    "nimbus": App(
        name="Nimbus ID",
        accent="#0e88d3",
        logo='<path d="M10 22h12a5 5 0 0 0 .7-9.9A7 7 0 0 0 9.3 11 5.5 5.5 0 0 0 10 22z"/>',
        web=True,
        url="login.nimbus-id.example/signin",
        nav=(),
        css=NIMBUS_CSS,
        body=nimbus_body,
    ),
    "skyvault": App(
        name="SkyVault Sync",
        accent="#1f8a70",
        logo='<path d="M16 7v14"/><path d="m10 15 6 6 6-6"/><path d="M8 25h16"/>',
        web=False,
        url="",
        nav=(("Files", "文件"), ("Activity", "动态"), ("Settings", "设置")),
        css=SKYVAULT_CSS,
        body=skyvault_body,
    ),
    "harbor": App(
        name="Harbor Bank",
        accent="#0f5f8c",
        logo='<circle cx="16" cy="9" r="2.5"/><path d="M16 11.5V25"/><path d="M9 18a7 7 0 0 0 14 0"/><path d="M12 15h8"/>',
        web=False,
        url="",
        nav=(),
        css=HARBOR_CSS,
        body=harbor_body,
    ),
    "zipp": App(
        name="Zipp",
        accent="#0f9f6e",
        logo='<path d="M18 5 9 18h7l-2 9 9-13h-7z"/>',
        web=False,
        url="",
        nav=(),
        css=ZIPP_CSS,
        body=zipp_body,
    ),
    "shopnest": App(
        name="ShopNest",
        accent="#e0672b",
        logo='<path d="M8 12h16l-1.5 13h-13z"/><path d="M12 12a4 4 0 0 1 8 0"/>',
        web=True,
        url="www.shopnest.example/checkout/review",
        nav=(("Home", "首页"), ("Living", "客厅"), ("Bedroom", "卧室"), ("Deals", "优惠")),
        css=SHOPNEST_CSS,
        body=shopnest_body,
    ),
    "inkwell": App(
        name="Inkwell Mail",
        accent="#b4235a",
        logo='<rect x="6" y="9" width="20" height="14" rx="2"/><path d="m6 11 10 7 10-7"/>',
        web=False,
        url="",
        nav=(("Mail", "邮件"), ("Calendar", "日历"), ("Contacts", "通讯录")),
        css=INKWELL_CSS,
        body=inkwell_body,
    ),
    "tunnelguard": App(
        name="TunnelGuard VPN",
        accent="#2563eb",
        logo='<path d="M16 5 7 9v6c0 6 4 10 9 12 5-2 9-6 9-12V9z"/><path d="m12 16 3 3 5-6"/>',
        web=False,
        url="",
        nav=(("Status", "状态"), ("Servers", "服务器"), ("Settings", "设置")),
        css=TUNNELGUARD_CSS,
        body=tunnelguard_body,
    ),
}


def error_screen_html(s: ErrorScreen) -> str:
    app = APPS[s.app]
    phone = s.device == "phone"
    if phone:
        chrome = f'<div class="statusbar"><span>{s.clock}</span>{SIGNAL_ICONS}</div>'
        if app.web:
            chrome += f'<div class="mobile-url"><div>{icon("lock", 14)} {app.url.split("/")[0]}</div></div>'
    elif app.web:
        chrome = f"""<div class="browser"><div class="tabs"><div class="lights"><i></i><i></i><i></i></div>
  <div class="tab">{app.name}</div></div><div class="urlbar">{icon("lock", 14)} https://{app.url}</div></div>"""
    else:
        chrome = f'<div class="titlebar"><div class="lights"><i></i><i></i><i></i></div><div class="title">{app.name}</div></div>'
    nav = "".join(
        f"<{'b' if i == 0 else 'span'}>{s.t(*label)}</{'b' if i == 0 else 'span'}>" for i, label in enumerate(app.nav)
    )
    user = s.t("Maria J.", "王小明")
    appbar = f"""<header class="appbar">{logo_svg(app)}<span class="name">{app.name}</span><nav>{nav}</nav>
  <div class="user"><span>{user}</span><div class="avatar">{user[0]}</div></div></header>"""
    if s.app == "nimbus":
        appbar = ""  # a sign-in page shows its brand on the card, not in an app bar
    return f"""<!doctype html><html lang="{"zh-CN" if s.lang == "zh" else "en"}"><head><meta charset="utf-8">
<style>{BASE_CSS}{app.css}</style></head>
<body class="{s.theme} {s.device} {s.lang}" style="--accent:{app.accent}">{chrome}{appbar}
<main>{app.body(s)}</main>{floating_error(s)}</body></html>"""


# --------------------------------------------------------------------------- product photos


@dataclass(frozen=True)
class ProductShot:
    stem: str
    created_at: str
    svg: str  # drawing on a 900x900 canvas, over the studio backdrop


def studio(background: tuple[str, str], drawing: str, shadow: tuple[int, int, int, int]) -> str:
    """A seamless studio sweep with a soft contact shadow under the object."""
    cx, cy, rx, ry = shadow
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="900" height="900" viewBox="0 0 900 900">
<defs><radialGradient id="bg" cx="50%" cy="38%" r="75%"><stop offset="0" stop-color="{background[0]}"/>
<stop offset="1" stop-color="{background[1]}"/></radialGradient>
<filter id="soft" x="-50%" y="-50%" width="200%" height="200%"><feGaussianBlur stdDeviation="18"/></filter>
<filter id="blur4"><feGaussianBlur stdDeviation="4"/></filter></defs>
<rect width="900" height="900" fill="url(#bg)"/>
<ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" fill="#000" opacity=".28" filter="url(#soft)"/>{drawing}</svg>"""


MUG = studio(
    ("#f7f3ec", "#d8d0c4"),
    """
<defs><linearGradient id="mug" x1="0" x2="1"><stop offset="0" stop-color="#d9d9d9"/><stop offset=".25" stop-color="#ffffff"/>
<stop offset=".7" stop-color="#f1f1f1"/><stop offset="1" stop-color="#bdbdbd"/></linearGradient></defs>
<path d="M560 390 h30 a95 95 0 0 1 0 190 h-30" fill="none" stroke="#cfcfcf" stroke-width="34"/>
<path d="M560 390 h30 a95 95 0 0 1 0 190 h-30" fill="none" stroke="#f4f4f4" stroke-width="20"/>
<path d="M270 300 v330 a45 45 0 0 0 45 45 h210 a45 45 0 0 0 45 -45 v-330 z" fill="url(#mug)"/>
<ellipse cx="420" cy="300" rx="150" ry="34" fill="#eeeeee"/><ellipse cx="420" cy="303" rx="136" ry="26" fill="#4a2c1d"/>
<ellipse cx="400" cy="298" rx="60" ry="8" fill="#6b4430" opacity=".8"/>
<circle cx="420" cy="445" r="34" fill="none" stroke="#2f4f3a" stroke-width="5"/><path d="M402 455 q18 -40 36 0" fill="none" stroke="#2f4f3a" stroke-width="5"/>
<text x="420" y="520" font-family="Liberation Serif" font-size="34" text-anchor="middle" fill="#2f4f3a" letter-spacing="4">MORNING</text>
<text x="420" y="556" font-family="Liberation Serif" font-size="34" text-anchor="middle" fill="#2f4f3a" letter-spacing="4">RITUAL</text>
<text x="420" y="590" font-family="Liberation Sans" font-size="16" text-anchor="middle" fill="#5d7263" letter-spacing="3">STONEWARE · 350 ML</text>
""",
    (420, 680, 200, 26),
)

SNEAKER = studio(
    ("#eef2f6", "#c8d0da"),
    """
<defs><linearGradient id="up" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#ef4444"/><stop offset="1" stop-color="#b91c1c"/></linearGradient></defs>
<path d="M140 600 C140 560 170 540 210 535 L720 520 C770 518 800 545 800 575 L800 610 C800 630 780 640 760 640 L170 640 C150 640 140 625 140 600 Z" fill="#f8fafc" stroke="#cbd5e1" stroke-width="3"/>
<path d="M150 612 L795 600" stroke="#94a3b8" stroke-width="4"/>
<path d="M170 540 C180 470 230 430 300 420 L420 400 C470 360 520 330 580 320 C640 310 700 330 720 380 C740 430 760 480 770 522 L210 536 Z" fill="url(#up)"/>
<path d="M580 320 C620 300 690 300 715 360 C700 360 670 350 640 352 Z" fill="#7f1d1d"/>
<path d="M190 530 C200 480 240 450 300 440 L380 430 C360 470 330 510 300 532 Z" fill="#fca5a5" opacity=".55"/>
<path d="M330 520 C420 470 540 440 700 430" stroke="#fff" stroke-width="18" fill="none" stroke-linecap="round"/>
<g stroke="#fff" stroke-width="7" stroke-linecap="round"><path d="M440 395 l40 28"/><path d="M470 375 l40 28"/><path d="M500 357 l40 28"/><path d="M530 342 l38 26"/></g>
<rect x="715" y="440" width="62" height="40" rx="8" fill="#111827" transform="rotate(-8 746 460)"/>
<text x="746" y="468" font-family="Liberation Sans" font-weight="bold" font-size="18" fill="#fff" text-anchor="middle" transform="rotate(-8 746 460)">STRIDE</text>
""",
    (470, 650, 340, 24),
)

HEADPHONES = studio(
    ("#2b2f36", "#101215"),
    """
<defs><linearGradient id="band" x1="0" x2="0" y1="0" y2="1"><stop offset="0" stop-color="#4b5563"/><stop offset="1" stop-color="#111827"/></linearGradient>
<radialGradient id="cup" cx="40%" cy="35%" r="70%"><stop offset="0" stop-color="#4b5563"/><stop offset="1" stop-color="#0b0f14"/></radialGradient></defs>
<path d="M250 520 C250 250 650 250 650 520" fill="none" stroke="url(#band)" stroke-width="46" stroke-linecap="round"/>
<path d="M262 500 C262 285 638 285 638 500" fill="none" stroke="#9ca3af" stroke-width="3" opacity=".5"/>
<rect x="180" y="470" width="150" height="210" rx="70" fill="url(#cup)"/><rect x="570" y="470" width="150" height="210" rx="70" fill="url(#cup)"/>
<rect x="300" y="490" width="42" height="170" rx="20" fill="#1f2937"/><rect x="558" y="490" width="42" height="170" rx="20" fill="#1f2937"/>
<circle cx="255" cy="575" r="34" fill="none" stroke="#d4af37" stroke-width="3"/><circle cx="645" cy="575" r="34" fill="none" stroke="#d4af37" stroke-width="3"/>
<text x="450" y="318" font-family="Liberation Sans" font-size="22" font-weight="bold" fill="#d4af37" text-anchor="middle" letter-spacing="6">SONARA</text>
""",
    (450, 720, 300, 26),
)

BOTTLE = studio(
    ("#e7f3f1", "#b9d3cf"),
    """
<defs><linearGradient id="steel" x1="0" x2="1"><stop offset="0" stop-color="#0f5e5a"/><stop offset=".3" stop-color="#2bb3a6"/>
<stop offset=".45" stop-color="#7fe0d5"/><stop offset=".6" stop-color="#2bb3a6"/><stop offset="1" stop-color="#0b4744"/></linearGradient>
<linearGradient id="cap" x1="0" x2="1"><stop offset="0" stop-color="#111"/><stop offset=".4" stop-color="#555"/><stop offset="1" stop-color="#111"/></linearGradient></defs>
<rect x="395" y="120" width="110" height="90" rx="16" fill="url(#cap)"/><rect x="420" y="95" width="60" height="36" rx="14" fill="none" stroke="#333" stroke-width="10"/>
<path d="M400 210 h100 c0 40 60 50 60 110 v420 a40 40 0 0 1 -40 40 h-140 a40 40 0 0 1 -40 -40 v-420 c0 -60 60 -70 60 -110 z" fill="url(#steel)"/>
<rect x="340" y="430" width="220" height="170" fill="#f8fafc" opacity=".94"/>
<text x="450" y="490" font-family="Liberation Sans" font-weight="bold" font-size="34" text-anchor="middle" fill="#0f5e5a" letter-spacing="3">AQUAPEAK</text>
<text x="450" y="530" font-family="Liberation Sans" font-size="22" text-anchor="middle" fill="#334155">750 ml · insulated</text>
<text x="450" y="568" font-family="Liberation Sans" font-size="18" text-anchor="middle" fill="#64748b">cold 24 h · hot 12 h</text>
""",
    (450, 790, 150, 20),
)

WATCH = studio(
    ("#f5efe6", "#d4c6b0"),
    """
<defs><linearGradient id="strap" x1="0" x2="1"><stop offset="0" stop-color="#5b3a24"/><stop offset=".5" stop-color="#8a5a3a"/><stop offset="1" stop-color="#5b3a24"/></linearGradient></defs>
<rect x="370" y="90" width="160" height="260" rx="30" fill="url(#strap)"/><rect x="370" y="560" width="160" height="270" rx="30" fill="url(#strap)"/>
<g fill="#3b2616"><circle cx="450" cy="660" r="9"/><circle cx="450" cy="710" r="9"/><circle cx="450" cy="760" r="9"/></g>
<rect x="315" y="285" width="270" height="330" rx="70" fill="#c0c4c9"/><rect x="330" y="300" width="240" height="300" rx="58" fill="#0b0d10"/>
<rect x="585" y="370" width="18" height="70" rx="8" fill="#9ca3af"/>
<text x="450" y="430" font-family="Liberation Sans" font-size="82" font-weight="bold" fill="#fff" text-anchor="middle">10:08</text>
<text x="450" y="475" font-family="Liberation Sans" font-size="24" fill="#60a5fa" text-anchor="middle">TUE 14 MAY</text>
<text x="450" y="530" font-family="Liberation Sans" font-size="24" fill="#f87171" text-anchor="middle">♥ 72 bpm</text>
<text x="450" y="575" font-family="Liberation Sans" font-size="16" fill="#9ca3af" text-anchor="middle" letter-spacing="4">PULSE</text>
""",
    (450, 850, 120, 16),
)

BACKPACK = studio(
    ("#eef0ea", "#c3c9b8"),
    """
<defs><linearGradient id="pack" x1="0" x2="1"><stop offset="0" stop-color="#3f5a3c"/><stop offset=".5" stop-color="#5d7f57"/><stop offset="1" stop-color="#34492f"/></linearGradient></defs>
<path d="M380 200 c0 -60 140 -60 140 0" fill="none" stroke="#2d3d2a" stroke-width="22"/>
<rect x="270" y="190" width="360" height="540" rx="90" fill="url(#pack)"/>
<rect x="320" y="470" width="260" height="220" rx="40" fill="#4a6a45" stroke="#2d3d2a" stroke-width="4"/>
<path d="M330 500 h240" stroke="#1f2a1d" stroke-width="6" stroke-dasharray="10 6"/>
<path d="M300 300 h300" stroke="#1f2a1d" stroke-width="6" stroke-dasharray="10 6"/>
<rect x="395" y="545" width="110" height="56" rx="8" fill="#e8dcc0"/>
<text x="450" y="580" font-family="Liberation Sans" font-weight="bold" font-size="20" text-anchor="middle" fill="#2d3d2a">TRAILKIT</text>
<text x="450" y="665" font-family="Liberation Sans" font-size="16" text-anchor="middle" fill="#cdd8c6" letter-spacing="2">28 L DAYPACK</text>
""",
    (450, 745, 210, 22),
)

PRODUCT_SHOTS: tuple[ProductShot, ...] = (
    ProductShot("product_mug_white", "2024-03-02", MUG),
    ProductShot("product_sneaker_red", "2024-07-21", SNEAKER),
    ProductShot("product_headphones_black", "2024-11-05", HEADPHONES),
    ProductShot("product_water_bottle_teal", "2025-02-11", BOTTLE),
    ProductShot("product_smartwatch_leather", "2025-06-04", WATCH),
    ProductShot("product_backpack_green", "2025-10-16", BACKPACK),
)


@dataclass(frozen=True)
class StockPhoto:
    """A scikit-image sample photo (public domain or CC0, see samples/README.md)."""

    stem: str
    loader: Callable[[], np.ndarray]
    category: str
    created_at: str


STOCK_PHOTOS: tuple[StockPhoto, ...] = (
    StockPhoto("product_coffee_cup_photo", skdata.coffee, "product", "2024-05-08"),
    StockPhoto("photo_cat_chelsea", skdata.chelsea, "photo", "2024-09-27"),
    StockPhoto("photo_rocket_launch", skdata.rocket, "photo", "2025-04-18"),
    StockPhoto("photo_astronaut_portrait", skdata.astronaut, "photo", "2025-12-19"),
)


# --------------------------------------------------------------------------- images with text


@dataclass(frozen=True)
class TextImage:
    stem: str
    lang: Lang
    category: str
    created_at: str
    viewport: Viewport
    html: str
    jpeg: bool = False


def text_page(body: str, css: str, lang: Lang = "en") -> str:
    return f"""<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8"><style>
* {{ box-sizing: border-box; margin: 0; padding: 0; }} html, body {{ height: 100%; overflow: hidden; }}
body {{ font-family: "Liberation Sans", "Noto Sans CJK SC", "Noto Color Emoji", sans-serif; }}
{css}</style></head><body>{body}</body></html>"""


def barcode(payload: str, width: int, height: int) -> str:
    """A barcode-looking stripe pattern derived from the payload (decorative, not scannable)."""
    bars, x = [], 0
    for byte in hashlib.sha256(payload.encode()).digest() * 2:
        for bit in range(0, 8, 2):
            stripe = 2 + ((byte >> bit) & 3)
            if (byte >> bit) & 1:
                bars.append(f'<rect x="{x}" width="{stripe}" height="{height}"/>')
            x += stripe
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {x} {height}" preserveAspectRatio="none" fill="#000">'
        f"{''.join(bars)}</svg>"
    )


RECEIPT = text_page(
    """<div class="paper">
<h1>GREENLEAF MARKET</h1><p class="c">214 Alder Street, Portland OR 97204<br>(503) 555-0147 · greenleaf.example</p>
<p class="c">STORE 0042 · LANE 3 · CASHIER KAYLA</p><hr>
<table>
<tr><td>ORGANIC BANANAS 1.32 lb</td><td>$0.91</td></tr><tr><td>OAT MILK 64 OZ</td><td>$4.49</td></tr>
<tr><td>SOURDOUGH LOAF</td><td>$5.99</td></tr><tr><td>FREE RANGE EGGS 12CT</td><td>$6.29</td></tr>
<tr><td>AVOCADO HASS 3 @ $1.25</td><td>$3.75</td></tr><tr><td>GREEK YOGURT 32 OZ</td><td>$5.79</td></tr>
<tr><td>COFFEE BEANS DARK 12 OZ</td><td>$11.99</td></tr><tr><td>SPINACH BABY 5 OZ</td><td>$3.49</td></tr>
</table><hr>
<table><tr><td>SUBTOTAL</td><td>$42.70</td></tr><tr><td>TAX 0.00%</td><td>$0.00</td></tr>
<tr class="big"><td>TOTAL</td><td>$42.70</td></tr><tr><td>VISA **** 7731</td><td>$42.70</td></tr>
<tr><td>AUTH 08812C · CHIP</td><td></td></tr></table><hr>
<p class="c">03/14/2025 18:22:07 · TRX 5521-0093</p><p class="c">ITEMS SOLD: 8 · YOU SAVED $3.10</p>
<p class="c thanks">THANK YOU FOR SHOPPING LOCAL!</p><div class="c">__BARCODE__</div></div>""".replace(
        "__BARCODE__", barcode("TRX 5521-0093", 380, 56)
    ),
    """
body { background: #6b7280; display: flex; justify-content: center; align-items: flex-start; padding: 36px; }
.paper { width: 520px; background: #fdfcf8; padding: 34px 38px; font: 19px/1.5 "Liberation Mono", monospace; color: #1f2937;
  box-shadow: 0 18px 40px rgba(0,0,0,.35); }
h1 { font-size: 30px; text-align: center; letter-spacing: 2px; } .c { text-align: center; } hr { border: 0; border-top: 2px dashed #9ca3af; margin: 14px 0; }
table { width: 100%; border-collapse: collapse; } td:last-child { text-align: right; } .big td { font-size: 24px; font-weight: bold; }
.thanks { margin: 12px 0; font-weight: bold; }""",
)

NAMEPLATE = text_page(
    """<div class="plate"><div class="head"><b>VOLTEX</b><span>INDUSTRIAL POWER SUPPLY</span></div>
<table><tr><td>MODEL</td><td>VX-PSU-650G</td></tr><tr><td>S/N</td><td>VX2407-118245</td></tr>
<tr><td>INPUT</td><td>100–240 V AC, 50/60 Hz, 8 A</td></tr><tr><td>OUTPUT</td><td>+12 V DC 54 A · +5 V DC 20 A</td></tr>
<tr><td>MAX POWER</td><td>650 W</td></tr><tr><td>MFG DATE</td><td>2024-07</td></tr></table>
<div class="marks"><span class="ce">CE</span><span class="box">IP20</span><span class="box">Class I</span><span class="bin">⚠</span></div>
<p>CAUTION: Risk of electric shock. Do not open. No user-serviceable parts inside.</p>
<p>Voltex Electric Co., Ltd. · Made in Taiwan</p></div>""",
    """
body { background: #3f4650; display: flex; align-items: center; justify-content: center; }
.plate { width: 860px; padding: 30px 38px; border-radius: 14px; color: #111;
  background: linear-gradient(135deg, #d9dde2, #f4f6f8 40%, #c3c8cf 60%, #eef0f3); border: 3px solid #8a9099;
  box-shadow: inset 0 0 0 8px rgba(255,255,255,.35), 0 12px 30px rgba(0,0,0,.45); }
.head { display: flex; align-items: baseline; gap: 18px; border-bottom: 3px solid #111; padding-bottom: 10px; }
.head b { font-size: 46px; letter-spacing: 4px; } .head span { font-size: 22px; font-weight: bold; }
table { width: 100%; margin-top: 12px; font-size: 25px; border-collapse: collapse; }
td { padding: 6px 0; } td:first-child { width: 220px; font-weight: bold; }
.marks { display: flex; gap: 18px; align-items: center; margin: 16px 0 10px; font-size: 26px; font-weight: bold; }
.ce { font-size: 40px; font-family: "Liberation Serif"; } .box { border: 3px solid #111; padding: 2px 10px; }
p { font-size: 18px; margin-top: 4px; }""",
)

SHOP_SIGN = text_page(
    """<div class="wall"><div class="sign"><div class="zh">金龙面馆</div>
<div class="en">GOLDEN DRAGON NOODLE HOUSE</div><div class="sub">Hand-pulled noodles · Dumplings · Since 1998</div></div>
<div class="hours">OPEN 11 AM – 10 PM<br>CLOSED TUESDAYS</div><div class="street">MAPLE AVE</div><div class="no">1287</div></div>""",
    """
.wall { position: relative; width: 100%; height: 100%;
  background: repeating-linear-gradient(0deg, #8c3b2a 0 38px, #c9b9a6 38px 42px),
              repeating-linear-gradient(90deg, transparent 0 86px, #c9b9a6 86px 90px) #8c3b2a;
  background-blend-mode: multiply; }
.sign { position: absolute; left: 90px; right: 90px; top: 70px; padding: 26px 20px; text-align: center; border-radius: 10px;
  background: linear-gradient(#1b1b1b, #2a2a2a); border: 8px solid #b8860b; box-shadow: 0 18px 30px rgba(0,0,0,.55); }
.zh { font-family: "Noto Serif CJK SC"; font-weight: 900; font-size: 92px; color: #f4c542; letter-spacing: 18px; }
.en { font-family: "Liberation Serif"; font-weight: bold; font-size: 48px; color: #f8e7b0; letter-spacing: 3px; }
.sub { margin-top: 6px; font-size: 26px; color: #d6d3d1; }
.hours { position: absolute; left: 120px; bottom: 60px; background: #fefce8; color: #1c1917; padding: 16px 22px; font-size: 28px;
  font-weight: bold; transform: rotate(-2deg); box-shadow: 0 8px 18px rgba(0,0,0,.4); line-height: 1.35; }
.street { position: absolute; right: 110px; bottom: 120px; background: #166534; color: #fff; border: 4px solid #fff;
  outline: 3px solid #166534; border-radius: 8px; padding: 8px 26px; font-size: 44px; font-weight: bold; letter-spacing: 2px; }
.no { position: absolute; right: 150px; bottom: 44px; background: #1e3a8a; color: #fff; padding: 4px 18px; border-radius: 6px; font-size: 36px; font-weight: bold; }""",
)

PROMO_EN = text_page(
    """<div class="flyer"><div class="burst">🎉 CONGRATULATIONS! 🎉</div>
<p class="lead">You have been selected as today's lucky visitor!</p><h1>WIN A FREE iPHONE 16 PRO</h1>
<div class="phone">📱</div><p class="claim">Just pay $1.95 shipping &amp; handling</p>
<div class="cta">CLICK NOW TO CLAIM ▶</div><p class="timer">⏰ Offer expires in 04:59 · Only 3 left!</p>
<p class="url">www.free-prize-winner.example/claim?id=77341</p>
<p class="fine">*Not affiliated with Apple Inc. Winners chosen at random. Subscription of $79.99/month applies after trial.</p></div>""",
    """
body { background: #ffe600; display: flex; justify-content: center; }
.flyer { width: 100%; padding: 30px 44px; text-align: center; color: #111;
  background: repeating-conic-gradient(from 0deg at 50% 42%, #ffe600 0 10deg, #ffd000 10deg 20deg); }
.burst { display: inline-block; background: #e11d48; color: #fff; font-size: 40px; font-weight: 900; padding: 10px 26px; transform: rotate(-3deg); }
.lead { font-size: 28px; margin-top: 18px; font-weight: bold; }
h1 { font-size: 66px; line-height: 1.05; margin: 14px 0; color: #1d4ed8; font-weight: 900; text-shadow: 3px 3px 0 #fff; }
.phone { font-size: 130px; line-height: 1.1; } .claim { font-size: 30px; font-weight: bold; }
.cta { display: inline-block; margin: 18px 0 12px; background: #16a34a; color: #fff; font-size: 40px; font-weight: 900; padding: 16px 40px; border-radius: 50px; border: 5px solid #fff; box-shadow: 0 8px 0 #14532d; }
.timer { font-size: 26px; color: #b91c1c; font-weight: bold; } .url { font-size: 22px; color: #1d4ed8; text-decoration: underline; margin-top: 8px; }
.fine { font-size: 15px; color: #444; margin-top: 14px; }""",
)

PROMO_ZH = text_page(
    """<div class="flyer"><div class="top">【官方活动】恭喜您中奖啦！</div>
<h1>免费领取<br>iPhone 16 Pro Max</h1><p class="lead">您的手机号已被系统抽中为 <b>一等奖</b></p>
<div class="gift">🎁📱💰</div><p class="step">只需支付 9.9 元邮费，即可免费包邮到家</p>
<div class="cta">立即点击领取 👉</div><p class="timer">⏰ 限时 24 小时，过期作废！仅剩 3 个名额</p>
<p class="url">领奖链接：http://lingjiang-vip.example/hb?id=520</p><p class="fine">添加客服微信 VIP8888 领取更多福利</p></div>""",
    """
body { background: #b91c1c; }
.flyer { height: 100%; padding: 34px 36px; text-align: center; color: #fff7d6; font-family: "Noto Sans CJK SC", sans-serif;
  background: radial-gradient(circle at 50% 30%, #ef4444, #991b1b 70%); }
.top { display: inline-block; background: #fde047; color: #991b1b; font-size: 36px; font-weight: 900; padding: 8px 24px; border-radius: 10px; }
h1 { font-size: 64px; line-height: 1.15; margin: 22px 0 10px; color: #fde047; font-weight: 900; text-shadow: 0 4px 0 #7f1d1d; }
.lead { font-size: 30px; } .lead b { color: #fde047; } .gift { font-size: 100px; margin: 10px 0; }
.step { font-size: 28px; } .cta { display: inline-block; margin: 20px 0 14px; background: #fde047; color: #991b1b; font-size: 42px; font-weight: 900; padding: 14px 44px; border-radius: 50px; }
.timer { font-size: 27px; font-weight: bold; } .url { font-size: 22px; margin-top: 10px; text-decoration: underline; }
.fine { font-size: 20px; margin-top: 8px; opacity: .9; }""",
    "zh",
)

NOTICE_ZH = text_page(
    """<div class="paper"><h1>停水通知</h1><p class="to">尊敬的各位业主、住户：</p>
<p>因市政供水管网改造施工，自来水公司将对本小区暂停供水，具体安排如下：</p>
<p class="key">停水时间：2025 年 6 月 18 日（星期三）08:00 至 20:00</p>
<p class="key">停水范围：翠湖花园 3 号楼、5 号楼、7 号楼全体住户</p>
<p>请各位住户提前做好储水准备，停水期间请关闭家中水龙头，以免恢复供水时造成跑水。如遇问题请拨打物业服务热线 <b>0571-8812 3456</b>。</p>
<p>给您带来的不便，敬请谅解！</p><div class="sign">翠湖花园物业服务中心<br>2025 年 6 月 15 日<div class="stamp">翠湖花园<br>物业服务中心</div></div></div>""",
    """
body { background: #cbd5e1; display: flex; justify-content: center; padding: 30px; }
.paper { width: 760px; background: #fffdf7; padding: 46px 56px; font-family: "Noto Serif CJK SC", serif; color: #1f2937;
  box-shadow: 0 12px 30px rgba(0,0,0,.25); font-size: 24px; line-height: 1.8; }
h1 { text-align: center; font-size: 54px; letter-spacing: 14px; color: #b91c1c; margin-bottom: 24px; }
p { text-indent: 2em; margin-bottom: 10px; } .to { text-indent: 0; font-weight: bold; } .key { font-weight: bold; color: #111; }
.sign { position: relative; text-align: right; margin-top: 36px; font-size: 24px; }
.stamp { position: absolute; right: 290px; top: -40px; width: 150px; height: 150px; border: 5px solid rgba(220,38,38,.8); border-radius: 50%;
  color: rgba(220,38,38,.8); display: flex; align-items: center; justify-content: center; text-align: center; font-size: 20px;
  line-height: 1.4; font-weight: bold; transform: rotate(-14deg); }""",
    "zh",
)

SLIDE_BARS = (
    ("Billing", 412, "#5b4cf0"),
    ("Login", 356, "#0e88d3"),
    ("Network", 287, "#2563eb"),
    ("Sync", 198, "#1f8a70"),
    ("Orders", 164, "#e0672b"),
    ("Email", 91, "#b4235a"),
)


def slide_html() -> str:
    top = 450
    bars = "".join(
        f'<rect x="{130 + i * 150}" y="{470 - value * 400 // top}" width="96" height="{value * 400 // top}" rx="6" fill="{color}"/>'
        f'<text x="{178 + i * 150}" y="{458 - value * 400 // top}" text-anchor="middle" font-size="24" font-weight="bold">{value}</text>'
        f'<text x="{178 + i * 150}" y="506" text-anchor="middle" font-size="24">{label}</text>'
        for i, (label, value, color) in enumerate(SLIDE_BARS)
    )
    grid = "".join(
        f'<path d="M110 {470 - v * 400 // top} H1040" stroke="#e5e7eb"/><text x="98" y="{478 - v * 400 // top}" '
        f'text-anchor="end" font-size="18" fill="#6b7280">{v}</text>'
        for v in (0, 100, 200, 300, 400)
    )
    chart = f'<svg width="1080" height="530" font-family="Liberation Sans" fill="#111827">{grid}{bars}</svg>'
    return text_page(
        f"""<div class="slide"><div class="kicker">SUPPORT OPERATIONS REVIEW</div>
<h1>Support Tickets by Category — Q3 2025</h1><p class="sub">1,508 tickets · median first response 2 h 14 min · CSAT 4.6 / 5</p>
{chart}<div class="foot"><span>Northwind Support Team</span><span>Confidential — internal use only</span><span>7</span></div></div>""",
        """
.slide { width: 100%; height: 100%; padding: 40px 70px 0; background: #fff; position: relative; }
.kicker { color: #5b4cf0; font-weight: bold; letter-spacing: 3px; font-size: 18px; }
h1 { font-size: 44px; color: #111827; margin-top: 6px; } .sub { font-size: 22px; color: #4b5563; margin: 6px 0 10px; }
.foot { position: absolute; left: 0; right: 0; bottom: 0; height: 48px; background: #111827; color: #e5e7eb; display: flex;
  justify-content: space-between; align-items: center; padding: 0 70px; font-size: 17px; }""",
    )


HANDWRITTEN_NOTE = text_page(
    """<div class="desk"><div class="note"><div class="tape"></div>
<p>Sat to-do:</p><p>- dentist Tue 3:30pm</p><p>- call Mom back!!</p><p>- buy: eggs, milk, coffee beans</p>
<p>- return library books</p><p>- wifi pw: sunflower42</p><p class="sig">— J.</p></div></div>""",
    """
.desk { width: 100%; height: 100%; display: flex; align-items: center; justify-content: center;
  background: linear-gradient(90deg, #8b5e3c, #a0704a 30%, #8b5e3c 60%, #9a6a45); }
.note { position: relative; width: 560px; padding: 56px 44px 40px; background: linear-gradient(#fff59d, #fde047);
  transform: rotate(-2.5deg); box-shadow: 0 18px 30px rgba(0,0,0,.35); font-family: "DkgHandwriting", "Humor Sans", cursive;
  font-size: 40px; line-height: 1.35; color: #1e3a8a; }
.tape { position: absolute; top: -18px; left: 200px; width: 160px; height: 44px; background: rgba(255,255,255,.55); transform: rotate(3deg); }
.sig { text-align: right; }""",
)

SHIPPING_LABEL = text_page(
    f"""<div class="label"><div class="top"><b>SWIFTSHIP</b><span>PRIORITY OVERNIGHT</span><span class="p">P</span></div>
<div class="row"><div class="from"><small>FROM</small><br>ShopNest Fulfillment Center<br>2400 Logistics Pkwy, Dock 14<br>Reno, NV 89502</div>
<div class="meta">SHIP DATE: 21 MAR 2025<br>WEIGHT: 2.4 KG<br>DIMS: 40×30×15 CM<br>REF: SN-ORD-558201</div></div>
<div class="to"><small>SHIP TO</small><br><b>DANA WHITFIELD</b><br>418 GRAND AVE APT 5<br>OAKLAND CA 94612<br>UNITED STATES</div>
<div class="track"><small>TRACKING NUMBER</small><br><b>SW 7741 9902 3318 05</b></div>
<div class="bc">{barcode("SW7741990233180", 680, 110)}</div></div>""",
    """
body { background: #c8a97e; display: flex; align-items: center; justify-content: center; }
.label { width: 720px; background: #fff; border: 3px solid #000; font-size: 22px; color: #000; box-shadow: 0 14px 30px rgba(0,0,0,.3); }
.top { display: flex; align-items: center; gap: 20px; border-bottom: 3px solid #000; padding: 12px 18px; }
.top b { font-size: 36px; letter-spacing: 2px; } .top span { font-weight: bold; font-size: 22px; }
.top .p { margin-left: auto; background: #000; color: #fff; font-size: 52px; padding: 0 18px; }
.row { display: flex; border-bottom: 3px solid #000; } .from, .meta { flex: 1; padding: 12px 18px; line-height: 1.4; }
.meta { border-left: 3px solid #000; font-weight: bold; } small { font-size: 16px; font-weight: bold; }
.to { padding: 14px 18px; font-size: 30px; line-height: 1.35; border-bottom: 3px solid #000; }
.track { padding: 10px 18px; font-size: 30px; letter-spacing: 2px; } .bc { padding: 6px 18px 18px; overflow: hidden; }""",
)

TEXT_IMAGES: tuple[TextImage, ...] = (
    TextImage("text_receipt_grocery", "en", "document", "2025-03-14", Viewport(600, 940), RECEIPT),
    TextImage("text_nameplate_power_supply", "en", "document", "2024-08-19", Viewport(960, 620), NAMEPLATE),
    TextImage("text_shop_sign_noodle_house", "en", "sign", "2024-04-26", Viewport(1000, 700), SHOP_SIGN, jpeg=True),
    TextImage("text_promo_free_iphone_spam", "en", "promo", "2025-01-30", Viewport(800, 1000), PROMO_EN),
    TextImage("text_promo_lottery_spam_zh", "zh", "promo", "2025-08-08", Viewport(760, 1000), PROMO_ZH),
    TextImage("text_notice_water_outage_zh", "zh", "document", "2025-06-15", Viewport(820, 1000), NOTICE_ZH),
    TextImage("text_slide_tickets_by_category", "en", "document", "2025-10-07", Viewport(1280, 720), slide_html()),
    TextImage("text_handwritten_note", "en", "document", "2024-12-28", Viewport(800, 700), HANDWRITTEN_NOTE, jpeg=True),
    TextImage("text_shipping_label", "en", "document", "2025-03-21", Viewport(820, 820), SHIPPING_LABEL),
)


# --------------------------------------------------------------------------- rendering


class Renderer:
    """One headless Chromium; one page per viewport, reused for every render at that size."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._pages: dict[Viewport, Page] = {}

    def render(self, html: str, viewport: Viewport) -> Image.Image:
        page = self._pages.get(viewport)
        if page is None:
            context = self._browser.new_context(
                viewport={"width": viewport.width, "height": viewport.height},
                device_scale_factor=viewport.scale,
                locale="en-US",
            )
            page = self._pages[viewport] = context.new_page()
        page.set_content(html, wait_until="load")
        page.evaluate("document.fonts.ready")
        png = page.screenshot(type="png", animations="disabled", caret="hide")
        return Image.open(io.BytesIO(png)).convert("RGB")


@contextmanager
def chromium() -> Iterator[Renderer]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield Renderer(browser)
        finally:
            browser.close()


def save(image: Image.Image, path: Path, jpeg_quality: int = JPEG_QUALITY) -> None:
    if path.suffix == ".png":
        image.save(path, optimize=True)
    else:
        image.save(path, quality=jpeg_quality, optimize=True)


def customer_crop(image: Image.Image, ticket_id: str) -> Image.Image:
    """Cut roughly 10% off the edges, more at the top, as a customer's own screenshot would."""
    rng = random.Random(ticket_id)
    width, height = image.size
    left = int(width * rng.uniform(0.03, 0.07))
    right = width - int(width * rng.uniform(0.03, 0.07))
    top = int(height * rng.uniform(0.08, 0.13))
    bottom = height - int(height * rng.uniform(0.03, 0.07))
    return image.crop((left, top, right, bottom))


def check_fonts() -> None:
    installed = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, check=True).stdout
    missing = [font for font in REQUIRED_FONTS if font not in installed]
    if missing:
        sys.exit(f"missing fonts {missing}; install them first (see this script's docstring)")


def clean_outputs() -> None:
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    QUERY_DIR.mkdir(parents=True, exist_ok=True)
    for stale in (*IMAGES_DIR.glob("*.png"), *IMAGES_DIR.glob("*.jpg"), *QUERY_DIR.glob("*.jpg")):
        stale.unlink()


def relative(path: Path) -> str:
    return path.relative_to(SAMPLES_DIR).as_posix()


def make_error_screens(renderer: Renderer) -> list[ManifestRow]:
    rows = []
    for screen in SCREENS:
        path = IMAGES_DIR / f"{screen.stem}.png"
        save(renderer.render(error_screen_html(screen), DEVICE_VIEWPORTS[screen.device]), path)
        rows.append(
            ManifestRow(
                relative(path),
                screen.ticket_id,
                screen.category,
                screen.resolution,
                screen.created_at,
                APPS[screen.app].name,
                screen.lang,
                "screenshot",
                screen.error_code,
            )
        )
    return rows


def make_query_screens(renderer: Renderer) -> None:
    by_ticket = {screen.ticket_id: screen for screen in SCREENS}
    for shot in QUERY_SHOTS:
        image = renderer.render(error_screen_html(by_ticket[shot.ticket_id]), shot.viewport)
        save(customer_crop(image, shot.ticket_id), QUERY_DIR / f"{shot.ticket_id}.jpg", QUERY_JPEG_QUALITY)


def make_products(renderer: Renderer) -> list[ManifestRow]:
    rows = []
    for shot in PRODUCT_SHOTS:
        path = IMAGES_DIR / f"{shot.stem}.jpg"
        html = f'<!doctype html><html><body style="margin:0">{shot.svg}</body></html>'
        save(renderer.render(html, Viewport(900, 900)), path)
        rows.append(ManifestRow(relative(path), "", "product", "", shot.created_at, "", "en", "product", ""))
    for photo in STOCK_PHOTOS:
        path = IMAGES_DIR / f"{photo.stem}.jpg"
        save(Image.fromarray(photo.loader()).convert("RGB"), path)
        rows.append(ManifestRow(relative(path), "", photo.category, "", photo.created_at, "", "en", "product", ""))
    return rows


def make_text_images(renderer: Renderer) -> list[ManifestRow]:
    rows = []
    for item in TEXT_IMAGES:
        path = IMAGES_DIR / f"{item.stem}.{'jpg' if item.jpeg else 'png'}"
        save(renderer.render(item.html, item.viewport), path)
        rows.append(ManifestRow(relative(path), "", item.category, "", item.created_at, "", item.lang, "text", ""))
    return rows


def main() -> None:
    check_fonts()
    clean_outputs()
    with chromium() as renderer:
        rows = make_error_screens(renderer) + make_products(renderer) + make_text_images(renderer)
        make_query_screens(renderer)
    MANIFEST.write_text("".join(json.dumps(asdict(row), ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    total = sum(path.stat().st_size for path in SAMPLES_DIR.rglob("*") if path.is_file())
    print(f"{len(rows)} images, {total / 1e6:.2f} MB in {SAMPLES_DIR.relative_to(ROOT)}/")
    if total > SIZE_BUDGET_BYTES:
        sys.exit(f"samples/ is {total} bytes, over the {SIZE_BUDGET_BYTES}-byte budget")


if __name__ == "__main__":
    main()
