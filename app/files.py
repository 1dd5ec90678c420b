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
# What the desk opens with the system's application: documents, pictures, sound and video
# whose usual programs do not run what is in them.  Anything else (programs and scripts, but
# also help files, shortcuts, installers, macro-enabled documents, and names no one knows) is
# only saved, for the agent to have it checked first: a list of what runs is never complete
# (.chm, .url, .settingcontent-ms, .terminal ...), a list of what is safe can be.
SAFE_TO_OPEN = frozenset(
    "pdf txt log md rtf doc docx xls xlsx ppt pptx odt ods odp pages numbers key "  # noqa: SIM905
    "png jpg jpeg gif bmp webp tif tiff heic heif "
    "mp3 wav m4a aac ogg oga flac mp4 m4v mov avi webm mkv wmv eml zip".split()
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
    """Whether the desk must not open ``file_name`` with the system (it may run something,
    or no one knows what opens it): everything not in `SAFE_TO_OPEN`, by its extension."""
    extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
    return extension not in SAFE_TO_OPEN


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
