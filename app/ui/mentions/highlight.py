"""Mentions stand out in the thread: ``@handle`` tokens painted in the accent colour on a
tint, laid out exactly as plain text would be (same font, same wrapping: colour and
background change no width), so the thread's row heights stay right."""

from __future__ import annotations

import re

from PySide6.QtCore import QPointF, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QTextCharFormat, QTextLayout, QTextOption

MENTION = re.compile(r"(?<![\w@.])@[\w][\w.-]*[\w]|(?<![\w@.])@[\w]")


def mention_spans(text: str) -> list[tuple[int, int]]:
    """(start, length) of each ``@handle`` token (an address's "@" is none)."""
    return [(m.start(), m.end() - m.start()) for m in MENTION.finditer(text)]


def draw_body(painter: QPainter, rect: QRect, flags: int, text: str, accent: QColor) -> None:
    """``painter.drawText(rect, flags, text)``, with the mentions in ``text`` highlighted."""
    spans = mention_spans(text)
    if not spans:
        painter.drawText(rect, flags, text)
        return
    # As QPainter.drawText lays out wrapped text: newlines as line separators, word wrap.
    layout = QTextLayout(text.replace("\n", "\u2028"), painter.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)
    layout.setTextOption(option)
    tint = QColor(accent)
    tint.setAlpha(40)
    ranges = []
    for start, length in spans:
        fmt = QTextCharFormat()
        fmt.setForeground(accent)
        fmt.setBackground(tint)
        part = QTextLayout.FormatRange()
        part.start, part.length, part.format = start, length, fmt
        ranges.append(part)
    layout.setFormats(ranges)
    leading = painter.fontMetrics().leading()
    layout.beginLayout()
    y = 0.0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(rect.width())
        y += leading
        line.setPosition(QPointF(0, y))
        y += line.height()
    layout.endLayout()
    painter.save()
    painter.setClipRect(rect, Qt.ClipOperation.IntersectClip)
    layout.draw(painter, QPointF(rect.topLeft()))
    painter.restore()
