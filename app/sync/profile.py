"""Where this workstation keeps its things, and which account it last signed in to.

Shared by the command line (``app/cli.py``) and the Qt workstation (``app/ui``), which may not
import the command line.  Nothing here is secret: the session token lives in the OS keychain
(``app/sync/credentials.py``), never in these files.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_SERVER = "ws://127.0.0.1:8765"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("switchboard", "Switchboard"))


def settings_path() -> Path:
    return Path(platformdirs.user_config_dir("switchboard", "Switchboard")) / "workstation.json"


def cache_path(server_url: str, email: str) -> Path:
    """One cache file per server and account."""
    key = hashlib.sha256(f"{server_url.rstrip('/')}|{email.lower()}".encode()).hexdigest()[:16]
    return data_dir() / "caches" / f"{key}.db"


@dataclass
class Profile:
    """Which server and account this workstation last signed in to (no secrets here)."""

    server: str
    email: str

    @classmethod
    def load(cls) -> Profile | None:
        try:
            data = json.loads(settings_path().read_text("utf-8"))
            return cls(str(data["server"]), str(data["email"]))
        except (OSError, ValueError, KeyError):
            return None

    def save(self) -> None:
        path = settings_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"server": self.server, "email": self.email}), "utf-8")


def tls_context(server_url: str) -> ssl.SSLContext | None:
    """How to verify a ``wss://`` server: the system's CAs, or the bundle named by
    SSL_CERT_FILE (a company's private CA); the engine makes the same choice itself."""
    return ssl.create_default_context() if server_url.startswith("wss://") else None


def normalize_server(address: str) -> str:
    """The WebSocket URL for what an agent types: ``desk.example.com:8765`` becomes
    ``ws://desk.example.com:8765``, ``https://…`` becomes ``wss://…`` (people paste the
    address they know from a browser), and a trailing slash goes (the cache is keyed by it)."""
    text = address.strip().rstrip("/")
    lowered = text.lower()
    for prefix, scheme in (
        ("ws://", "ws://"),
        ("wss://", "wss://"),
        ("http://", "ws://"),
        ("https://", "wss://"),
    ):
        if lowered.startswith(prefix):
            return scheme + text[len(prefix) :]
    return "ws://" + text if text else ""
