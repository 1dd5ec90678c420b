"""Files people attach: safe names, plain-English sizes, and the size limit's wording.

Both programs use this module (the server stores the name it sanitised, the workstation shows
and saves under the same one), so it imports only the standard library.
"""

from __future__ import annotations

import re
import unicodedata

# The server's default limit on one attachment; the server's configuration may change it
# (``switchboard-server serve --attachment-limit-mb``) and tells every workstation in ``welcome``.
DEFAULT_ATTACHMENT_LIMIT = 25 * 1000 * 1000
MAX_NAME_CHARS = 255
# Names Windows refuses for a file whatever their extension.
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
# Opened with the system, these would run: the desk never opens them, only saves them.
PROGRAM_EXTENSIONS = frozenset(
    "exe com bat cmd msi msp scr pif cpl hta jar js jse vbs vbe wsf wsh ps1 psm1 reg lnk dll "  # noqa: SIM905
    "sys app command sh bash zsh csh py pyw pl rb php apk dmg pkg deb rpm appimage run desktop "
    "iso img vhd msix appx".split()
)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")


def safe_file_name(name: str, fallback: str = "attachment") -> str:
    """``name`` as a file name safe to show and to save on any system.

    No folders (the last part of a path with ``/`` or ``\\`` is kept), no control or
    invisible formatting characters (a right-to-left override makes "gpj.exe" look like
    "exe.jpg"), none of the characters Windows refuses, no leading dots (hidden files, "..")
    and no trailing dots or spaces; Windows' reserved device names get a "_" in front.  At
    most 255 characters, keeping the extension.  Nothing left: ``fallback``.
    """
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if ch.isspace() else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") or ch.isspace()
    )
    name = _UNSAFE_CHARS.sub("_", name)
    name = _SPACES.sub(" ", name).strip().lstrip(".").rstrip(". ").strip()
    if not name:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in _RESERVED:
        name = "_" + name
    if len(name) > MAX_NAME_CHARS:
        ext = ext[:20]
        keep = MAX_NAME_CHARS - (len(ext) + 1 if ext else 0)
        name = (name[:keep].rstrip(". ") + ("." + ext if ext else "")) if keep > 0 else name[:255]
    return name


def is_program(file_name: str) -> bool:
    """Whether opening ``file_name`` could run something (judged by its extension)."""
    return file_name.rpartition(".")[2].lower() in PROGRAM_EXTENSIONS if "." in file_name else False


def size_in_words(size: int) -> str:
    """A size as people read it: "980 bytes", "12 KB", "3.4 MB" (1 KB = 1000 bytes, as file
    managers on macOS and the attachment limit say)."""
    if size < 1000:
        return f"{size} byte" + ("" if size == 1 else "s")
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        value = size / scale
        if value < 999.5 or unit == "GB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def too_large_words(name: str, size: int, limit: int) -> str:
    """The refusal of a file over the limit, naming the limit."""
    return f"{name} is {size_in_words(size)}; attachments can be at most {size_in_words(limit)}."
