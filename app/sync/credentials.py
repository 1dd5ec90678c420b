"""Session tokens in the OS keychain (Windows Credential Manager, macOS Keychain, Secret
Service).  Never the password, and never a plain-text file: where no keychain exists, the
caller is told so and keeps the token for this run only.
"""

from __future__ import annotations

import logging

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

log = logging.getLogger(__name__)
SERVICE = "switchboard"


def _account(server_url: str, email: str) -> str:
    return f"{email.lower()}@{server_url.rstrip('/')}"


def _keeps_secrets(backend: object) -> bool:
    """A backend that stores secrets in an OS keychain: not the "fail"/"null" backends, and
    not keyrings.alt's plain-text or file-encrypted ones (priority below 1, and a file)."""
    module = type(backend).__module__
    if module.startswith("keyrings.alt") or "fail" in module or "null" in module:
        return False
    priority = getattr(backend, "priority", 0)
    return bool(priority and priority >= 1)


def keychain_available() -> bool:
    """Whether a real OS keychain will receive the token (never a plain-text file)."""
    backend = keyring.get_keyring()
    chained = getattr(backend, "backends", None)
    if type(backend).__name__ == "ChainerBackend" and chained is not None:
        # The chainer writes to its highest-priority backend: that one must be a keychain.
        ordered = sorted(chained, key=lambda b: getattr(b, "priority", 0), reverse=True)
        return bool(ordered) and _keeps_secrets(ordered[0])
    return _keeps_secrets(backend)


def store_token(server_url: str, email: str, token: str) -> bool:
    """Keep the token in the keychain; False if there is no keychain to keep it in."""
    if not keychain_available():
        return False
    try:
        keyring.set_password(SERVICE, _account(server_url, email), token)
    except (NoKeyringError, KeyringError) as exc:
        log.warning("could not store the session in the keychain: %s", exc)
        return False
    return True


def load_token(server_url: str, email: str) -> str | None:
    if not keychain_available():
        return None
    try:
        return keyring.get_password(SERVICE, _account(server_url, email))
    except (NoKeyringError, KeyringError) as exc:
        log.warning("could not read the keychain: %s", exc)
        return None


def delete_token(server_url: str, email: str) -> None:
    if not keychain_available():
        return
    try:
        keyring.delete_password(SERVICE, _account(server_url, email))
    except PasswordDeleteError:
        pass  # nothing stored: already signed out
    except (NoKeyringError, KeyringError) as exc:
        log.warning("could not remove the session from the keychain: %s", exc)
