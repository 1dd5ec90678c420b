"""The desk opens with the system only what is on its list of documents, pictures and media."""

from __future__ import annotations

import pytest

from app.files import is_program


@pytest.mark.parametrize(
    "name", ["invoice.pdf", "Photo.JPG", "notes.txt", "call.mp3", "report.xlsx", "logs.zip"]
)
def test_documents_pictures_and_media_open(name: str) -> None:
    assert not is_program(name)


@pytest.mark.parametrize(
    "name",
    [
        "setup.exe",
        "help.chm",  # compiled help runs scripts
        "shortcut.url",
        "x.settingcontent-ms",
        "run.terminal",
        "budget.xlsm",  # macros
        "invoice.pdf.js",
        "README",  # no extension: no one knows what opens it
        "photo.svg",  # opened by a browser, with its scripts
    ],
)
def test_anything_else_is_only_saved(name: str) -> None:
    assert is_program(name)
