"""Light and dark looks that follow the system, the semantic colours, and the icons.

``apply_theme(app)`` sets the Fusion style (the same widgets on every OS, so the palette is
honoured everywhere) with a light or a dark palette — following the system's colour scheme
and its changes, or forced — plus a small app-wide style sheet.  Icons are SVG only (sharp
at every scale factor); monochrome ones are drawn in the "ink" colour ``#1f2937`` and
re-inked light in dark mode.  Widgets that paint their own colours take them from
``colors()``, which reads the current palette, and re-read it on ``QEvent.PaletteChange``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QRectF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton, QApplication

INK = "#1f2937"  # the colour monochrome icons are drawn in
INK_ON_DARK = "#e5e7eb"
ICON_SIZES = (16, 20, 24, 32, 40, 48, 64, 96, 128, 256)
MODES = ("system", "light", "dark")


@dataclass(frozen=True)
class Colors:
    """The colours with a meaning, for the current palette."""

    dark: bool
    note_background: QColor  # internal notes, so they never pass for a reply
    note_border: QColor
    failed: QColor  # a change or message the server refused / could not deliver
    queued: QColor  # waiting to be sent
    typing: QColor  # a colleague is typing on this ticket
    online: QColor
    connecting: QColor
    offline: QColor
    signed_out: QColor
    accent: QColor
    muted_text: QColor
    badge: QColor  # unread count on the tray icon
    badge_text: QColor


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette if palette is not None else QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def colors(palette: QPalette | None = None) -> Colors:
    """Semantic colours that read well on the current (or the given) palette."""
    palette = palette if palette is not None else QGuiApplication.palette()
    dark = is_dark(palette)

    def pick(light: str, on_dark: str) -> QColor:
        return QColor(on_dark if dark else light)

    return Colors(
        dark=dark,
        note_background=pick("#fff8e1", "#3b3320"),
        note_border=pick("#e8c45c", "#8a7331"),
        failed=pick("#c62828", "#f87171"),
        queued=pick("#6b7280", "#9ca3af"),
        typing=pick("#b45309", "#fbbf24"),
        online=pick("#15803d", "#34d399"),
        connecting=pick("#d97706", "#fbbf24"),
        offline=pick("#6b7280", "#9ca3af"),
        signed_out=pick("#c62828", "#f87171"),
        accent=pick("#2563eb", "#60a5fa"),
        muted_text=pick("#6b7280", "#9ca3af"),
        badge=pick("#dc2626", "#ef4444"),
        badge_text=pick("#ffffff", "#ffffff"),
    )


# ---- palettes ----------------------------------------------------------------------------


def _palette(dark: bool) -> QPalette:
    r = QPalette.ColorRole
    g = QPalette.ColorGroup
    if dark:
        roles = {
            r.Window: "#1e1f22",
            r.WindowText: "#e6e6e6",
            r.Base: "#16171a",
            r.AlternateBase: "#222328",
            r.ToolTipBase: "#2b2d31",
            r.ToolTipText: "#e6e6e6",
            r.PlaceholderText: "#8b8f97",
            r.Text: "#e6e6e6",
            r.Button: "#2b2d31",
            r.ButtonText: "#e6e6e6",
            r.BrightText: "#ff6b6b",
            r.Light: "#3a3c42",
            r.Midlight: "#303238",
            r.Mid: "#26282c",
            r.Dark: "#111214",
            r.Shadow: "#000000",
            r.Highlight: "#2f6fde",
            r.HighlightedText: "#ffffff",
            r.Link: "#6ea8fe",
            r.LinkVisited: "#b197fc",
        }
        disabled = {"#6b6f76": (r.WindowText, r.Text, r.ButtonText), "#3a3c42": (r.Highlight,)}
    else:
        roles = {
            r.Window: "#f5f6f8",
            r.WindowText: "#1f2328",
            r.Base: "#ffffff",
            r.AlternateBase: "#f3f4f6",
            r.ToolTipBase: "#ffffff",
            r.ToolTipText: "#1f2328",
            r.PlaceholderText: "#8b929b",
            r.Text: "#1f2328",
            r.Button: "#fbfbfc",
            r.ButtonText: "#1f2328",
            r.BrightText: "#c62828",
            r.Light: "#ffffff",
            r.Midlight: "#eceef1",
            r.Mid: "#c9ced6",
            r.Dark: "#9aa1ab",
            r.Shadow: "#5f6670",
            r.Highlight: "#2563eb",
            r.HighlightedText: "#ffffff",
            r.Link: "#1d4ed8",
            r.LinkVisited: "#6d28d9",
        }
        disabled = {"#a3a9b1": (r.WindowText, r.Text, r.ButtonText), "#c9ced6": (r.Highlight,)}
    palette = QPalette()
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    for value, disabled_roles in disabled.items():
        for role in disabled_roles:
            palette.setColor(g.Disabled, role, QColor(value))
    return palette


def _stylesheet(dark: bool) -> str:
    border = "#3a3c42" if dark else "#d5d9df"
    focus = "#4c8dff" if dark else "#2563eb"
    return f"""
QLineEdit, QPlainTextEdit, QTextEdit, QComboBox, QSpinBox {{
    border: 1px solid {border}; border-radius: 4px; padding: 3px 6px;
}}
QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus, QComboBox:focus {{
    border-color: {focus};
}}
QPushButton {{ border: 1px solid {border}; border-radius: 4px; padding: 4px 12px; }}
QPushButton:default {{ border-color: {focus}; }}
QPushButton:focus {{ border-color: {focus}; }}
QPushButton[flat="true"] {{ border: none; padding: 2px 4px; }}
QStatusBar {{ border-top: 1px solid {border}; }}
QStatusBar::item {{ border: none; }}
QToolTip {{ border: 1px solid {border}; padding: 4px; }}
"""


class _SchemeFollower(QObject):
    """Re-applies the theme when the system switches light/dark (while in "system" mode)."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.mode = "system"
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def _scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.mode == "system":
            _apply(self.app, self.mode)


_followers: dict[int, _SchemeFollower] = {}


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def _apply(app: QApplication, mode: str) -> None:
    dark = mode == "dark" or (mode == "system" and system_is_dark())
    app.setPalette(_palette(dark))
    app.setStyleSheet(_stylesheet(dark))
    _rendered_icon.cache_clear()
    for owner_key, (_owner, reink) in list(_inked.items()):
        if owner_key in _inked:  # an earlier re-ink may have deleted a later owner
            reink()


# What shows an icon set once (a button, a menu action), with how to set it again: a
# widget keeps the QIcon it was given, so a light/dark switch must hand it a re-inked one.
_inked: dict[int, tuple[QObject, Callable[[], None]]] = {}


def set_icon(target: QAbstractButton | QAction, name: str) -> None:
    """Give ``target`` the icon ``name`` now, and again, re-inked, whenever the look
    switches between light and dark, for as long as ``target`` lives."""

    def reink() -> None:
        target.setIcon(icon(name))

    reink()
    follow(target, reink)


def follow(owner: QObject, reink: Callable[[], None]) -> None:
    """Call ``reink`` after every switch of the look while ``owner`` lives (for icons or
    pixmaps a widget was given once: a button's, a menu action's, a label's)."""
    key = id(owner)
    if key not in _inked:
        owner.destroyed.connect(lambda *_: _inked.pop(key, None))
    _inked[key] = (owner, reink)


def apply_theme(app: QApplication, mode: str = "system") -> None:
    """Fusion with a light or dark palette: ``"system"`` follows the OS (and its changes),
    ``"light"`` and ``"dark"`` force one.  Safe to call again to switch modes."""
    if mode not in MODES:
        raise ValueError(f"theme mode must be one of {MODES}, not {mode!r}")
    app.setStyle("Fusion")
    follower = _followers.get(id(app))
    if follower is None:
        follower = _followers[id(app)] = _SchemeFollower(app)
        follower.destroyed.connect(lambda: _followers.pop(id(app), None))
    follower.mode = mode
    _apply(app, mode)
    app.setWindowIcon(app_icon())


# ---- icons -------------------------------------------------------------------------------


def resources_dir() -> Path:
    """``resources/`` next to the source tree, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent.parent / "resources"


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


@cache
def _svg_source(name: str) -> bytes:
    return icon_path(name).read_bytes()


def render_svg(svg: bytes, size: int) -> QPixmap:
    """A square pixmap of ``size`` device pixels, transparent around the drawing."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(svg))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return pixmap


@cache
def _rendered_icon(name: str, dark: bool) -> QIcon:
    svg = _svg_source(name)
    if dark:
        svg = svg.replace(INK.encode(), INK_ON_DARK.encode())
    result = QIcon()
    # Qt picks the nearest size for the widget's size times the screen's scale factor.
    for size in ICON_SIZES:
        result.addPixmap(render_svg(svg, size))
    return result


def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg``, re-inked for the current palette; an empty icon
    (and no crash) when the file is missing."""
    try:
        return _rendered_icon(name, is_dark())
    except OSError:
        return QIcon()


def svg_pixmap(name: str, size: QSize | int) -> QPixmap:
    """One rendering of an icon at ``size`` device pixels (for painting badges on)."""
    side = size if isinstance(size, int) else max(size.width(), size.height())
    svg = _svg_source(name)
    if is_dark():
        svg = svg.replace(INK.encode(), INK_ON_DARK.encode())
    return render_svg(svg, side)


CHANNEL_ICONS = {
    "email": "channel-email",
    "phone": "channel-phone",
    "chat": "channel-chat",
    "social": "channel-social",
    "web": "channel-web",
    "walk_in": "channel-walk_in",
}


def channel_icon(channel: str) -> QIcon:
    """The icon of a ticket's channel (``app.models.enums.Channel`` values)."""
    return icon(CHANNEL_ICONS.get(channel, "channel-web"))


def app_icon() -> QIcon:
    return icon("switchboard")
