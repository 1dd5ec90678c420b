"""Attachments in a conversation: attaching in the composer, files and pictures in the thread.

In the composer the agent attaches files with the paperclip button or Ctrl+Shift+A, by
dropping files on the conversation, or by pasting a screenshot (Ctrl+V with a picture on the
clipboard becomes "Screenshot 2026-12-08 at 14.02.png").  Each file is copied into the
workstation's file store at once and shows as a chip (name, size, remove) until the message
is sent; a file over the server's limit is refused at once, in words that name the limit.

In the thread, pictures show as thumbnails under their message (decoded off the UI thread,
at thumbnail size, by ``QImageReader``) and other files as chips with an icon, name and size.
Double-click or Enter opens a file with the system's application (a read-only copy under its
real name), "Save as…" writes a copy where the agent chooses.  A colleague's file is fetched
when its thumbnail is first shown or when it is opened ("Downloading… 40 %"), and kept for
offline use; one never fetched says "Unavailable offline".  Programs and scripts are never
opened: the agent may save them and check them first.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QEvent,
    QIODevice,
    QMimeData,
    QObject,
    QPoint,
    QRect,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QImageReader,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMenu,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.files import safe_file_name, size_in_words
from app.sync.desk.attachments import AttachmentItem
from app.sync.engine import KnownError
from app.sync.engine.attachments import AttachedFile
from app.sync.notice import ChangeNotice
from app.ui import shortcuts, theme

if TYPE_CHECKING:
    from app.ui.bridge import Bridge
    from app.ui.conversation.composer import Composer
    from app.ui.conversation.thread import ThreadView

THUMB_BOX = QSize(200, 140)  # the largest thumbnail, in device-independent pixels
CHIP_H = 30
GAP = 6
# Opened with the system, these would run: never opened from the desk, only saved.
PROGRAM_EXTENSIONS = frozenset(
    [
        "exe",
        "com",
        "bat",
        "cmd",
        "msi",
        "msp",
        "scr",
        "pif",
        "cpl",
        "hta",
        "jar",
        "js",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "ps1",
        "psm1",
        "reg",
        "lnk",
        "dll",
        "sys",
        "app",
        "command",
        "sh",
        "bash",
        "zsh",
        "csh",
        "py",
        "pyw",
        "pl",
        "rb",
        "php",
        "apk",
        "dmg",
        "pkg",
        "deb",
        "rpm",
        "appimage",
        "run",
        "desktop",
        "iso",
        "img",
        "vhd",
        "msix",
        "appx",
    ]
)


def is_program(file_name: str) -> bool:
    """Whether opening ``file_name`` could run something (judged by its extension)."""
    return Path(file_name).suffix.lower().lstrip(".") in PROGRAM_EXTENSIONS


def screenshot_name(when: datetime) -> str:
    """The name a pasted screenshot gets, as macOS names them."""
    return f"Screenshot {when:%Y-%m-%d} at {when:%H.%M.%S}.png"


def attachments_body(files: Iterable[AttachedFile]) -> str:
    """The text of a message sent with files and no words."""
    names = [f.file_name for f in files]
    return ("Attached: " if len(names) == 1 else "Attached files: ") + ", ".join(names)


def _image_size(path: Path) -> tuple[int | None, int | None]:
    """Width and height from the file's header (no decoding), if it is a picture."""
    reader = QImageReader(str(path))
    size = reader.size()
    if size.isValid() and size.width() > 0 and size.height() > 0:
        return size.width(), size.height()
    return None, None


def _mime_of(path: Path) -> str:
    from PySide6.QtCore import QMimeDatabase

    name = QMimeDatabase().mimeTypeForFile(str(path)).name()
    return name if "/" in name else "application/octet-stream"


# ---- progress, shared by every conversation of one desk -------------------------------------


class TransferProgress(QObject):
    """The engine's transfer progress as a signal: ``progressed(sha256, done, total)``."""

    progressed = Signal(str, int, int)


_PROGRESS: WeakKeyDictionary[Bridge, TransferProgress] = WeakKeyDictionary()


def transfer_progress(bridge: Bridge) -> TransferProgress:
    progress = _PROGRESS.get(bridge)
    if progress is None:
        progress = TransferProgress(bridge)
        _PROGRESS[bridge] = progress
        emit = progress.progressed.emit
        bridge.engine.attachments.on_progress = lambda sha, done, total: emit(sha, done, total)
    return progress


# ---- the composer's chips --------------------------------------------------------------------


class AttachmentChip(QFrame):
    """One attached file before sending: icon, name, size and a remove button.

    Signals: ``removeRequested()``.
    """

    removeRequested = Signal()

    def __init__(self, attached: AttachedFile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attached = attached
        self.setObjectName("attachmentChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Attached file {attached.file_name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 2, 2)
        layout.setSpacing(4)
        icon = QLabel(self)
        icon.setPixmap(theme.icon("file").pixmap(QSize(16, 16)))
        layout.addWidget(icon)
        name = QLabel(self)
        name.setTextFormat(Qt.TextFormat.PlainText)
        elided = QFontMetrics(name.font()).elidedText(
            attached.file_name, Qt.TextElideMode.ElideMiddle, 220
        )
        name.setText(f"{elided}  ·  {size_in_words(attached.size)}")
        name.setToolTip(attached.file_name)
        layout.addWidget(name)
        remove = QToolButton(self)
        remove.setText("\N{MULTIPLICATION SIGN}")
        remove.setAutoRaise(True)
        remove.setAccessibleName(f"Remove {attached.file_name}")
        remove.setToolTip(f"Remove {attached.file_name}")
        remove.clicked.connect(self.removeRequested.emit)
        layout.addWidget(remove)
        self.remove_button = remove


class AttachmentTray(QScrollArea):
    """The files attached to the message being written, as chips in a row.

    Signals: ``changed()`` — a file was added or removed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Attached files")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(CHIP_H + 16)
        inner = QWidget(self)
        self._row = QHBoxLayout(inner)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(GAP)
        self._row.addStretch(1)
        self.setWidget(inner)
        self.chips: list[AttachmentChip] = []
        self.hide()

    def files(self) -> tuple[AttachedFile, ...]:
        return tuple(chip.attached for chip in self.chips)

    def add(self, attached: AttachedFile) -> None:
        if any(c.attached == attached for c in self.chips):
            return  # the same file twice is one file
        chip = AttachmentChip(attached, self.widget())
        chip.removeRequested.connect(lambda: self.remove(chip))
        self._row.insertWidget(len(self.chips), chip)
        self.chips.append(chip)
        self.show()
        self.changed.emit()

    def remove(self, chip: AttachmentChip) -> None:
        if chip in self.chips:
            self.chips.remove(chip)
            chip.deleteLater()
            self.setVisible(bool(self.chips))
            self.changed.emit()

    def set_files(self, files: Iterable[AttachedFile]) -> None:
        for chip in list(self.chips):
            self.chips.remove(chip)
            chip.deleteLater()
        for attached in files:
            self.add(attached)
        self.setVisible(bool(self.chips))
        self.changed.emit()


# ---- thumbnails, decoded off the UI thread ---------------------------------------------------


class _Decoded(QObject):
    done = Signal(str, QImage)


class _DecodeThumbnail(QRunnable):
    def __init__(self, sha256: str, path: Path, box: QSize, out: _Decoded) -> None:
        super().__init__()
        self._sha256, self._path, self._box, self._out = sha256, path, box, out

    def run(self) -> None:
        reader = QImageReader(str(self._path))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and not size.isEmpty():
            reader.setScaledSize(size.scaled(self._box, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()  # a null image if it cannot be read: shown as a file chip
        self._out.done.emit(self._sha256, image)


# ---- the thread: painting, hits, opening -----------------------------------------------------


class ThreadFiles(QObject):
    """The files under each message of one thread: how tall, how painted, what was clicked.

    The thread's delegate asks ``height`` and calls ``paint``; everything else (fetching,
    thumbnails, opening, saving) happens here.  Signals: ``notice(str)`` — something to tell
    the agent in plain words.
    """

    notice = Signal(str)

    def __init__(self, bridge: Bridge, view: ThreadView) -> None:
        super().__init__(view)
        self.bridge = bridge
        self.view = view
        self.by_message: dict[str, tuple[AttachmentItem, ...]] = {}
        self._thumbs: dict[str, QImage] = {}
        self._decoding: set[str] = set()
        self._fetching: set[str] = set()
        self._unavailable: set[str] = set()
        self._progress: dict[str, tuple[int, int]] = {}
        self._hits: dict[str, list[tuple[QRect, AttachmentItem]]] = {}
        # How a file reaches the system's application (the desktop's file associations).
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        self._decoded = _Decoded(self)
        self._decoded.done.connect(self._thumbnail_ready)
        transfer_progress(bridge).progressed.connect(self._progressed)
        bridge.connectionChanged.connect(lambda _s: self._unavailable.clear())
        view.viewport().installEventFilter(self)
        view.installEventFilter(self)
        view.thread_delegate.files = self

    def set_files(self, by_message: dict[str, tuple[AttachmentItem, ...]]) -> None:
        if by_message == self.by_message:
            return
        self.by_message = by_message
        self.view.scheduleDelayedItemsLayout()
        self.view.viewport().update()

    # ---- geometry (asked by the delegate for every row) --------------------------------

    def _layout(self, message_id: str, width: int) -> list[tuple[QRect, AttachmentItem]]:
        """Where each file of a message goes, relative to the top left of its area."""
        items = self.by_message.get(message_id, ())
        placed: list[tuple[QRect, AttachmentItem]] = []
        x = y = 0
        row_h = 0
        for item in (i for i in items if self._as_thumbnail(i)):
            size = self._thumb_size(item)
            if x and x + size.width() > width:
                x, y = 0, y + row_h + GAP
                row_h = 0
            placed.append((QRect(x, y, min(size.width(), width), size.height()), item))
            x += size.width() + GAP
            row_h = max(row_h, size.height())
        if placed:
            y += row_h + GAP
        for item in (i for i in items if not self._as_thumbnail(i)):
            placed.append((QRect(0, y, min(width, 360), CHIP_H), item))
            y += CHIP_H + GAP
        return placed

    def _as_thumbnail(self, item: AttachmentItem) -> bool:
        thumb = self._thumbs.get(item.sha256)
        return item.is_image and (thumb is None or not thumb.isNull())

    def _thumb_size(self, item: AttachmentItem) -> QSize:
        thumb = self._thumbs.get(item.sha256)
        if thumb is not None and not thumb.isNull():
            return thumb.size() / max(1.0, thumb.devicePixelRatio())
        if item.width and item.height:
            return QSize(item.width, item.height).scaled(
                THUMB_BOX.boundedTo(QSize(item.width, item.height)).expandedTo(QSize(48, 48)),
                Qt.AspectRatioMode.KeepAspectRatio,
            )
        return QSize(THUMB_BOX.width(), THUMB_BOX.height() // 2)

    def height(self, message_id: str, width: int) -> int:
        placed = self._layout(message_id, width)
        if not placed:
            return 0
        return max(r.bottom() for r, _ in placed) + 1 + GAP

    # ---- painting ----------------------------------------------------------------------

    def paint(self, painter: QPainter, area: QRect, message_id: str) -> None:
        """Paint the files of ``message_id`` into ``area`` (viewport coordinates)."""
        placed = self._layout(message_id, area.width())
        hits: list[tuple[QRect, AttachmentItem]] = []
        palette = self.view.palette()
        for rect, item in placed:
            box = rect.translated(area.left(), area.top() + GAP)
            hits.append((box, item))
            if self._as_thumbnail(item):
                self._paint_thumbnail(painter, box, item, palette)
            else:
                self._paint_chip(painter, box, item, palette)
        self._hits[message_id] = hits

    def _paint_thumbnail(
        self, painter: QPainter, box: QRect, item: AttachmentItem, palette: QPalette
    ) -> None:
        thumb = self._thumbs.get(item.sha256)
        if thumb is not None and not thumb.isNull():
            painter.drawImage(box, thumb)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(box.adjusted(0, 0, -1, -1))
            return
        self._want_thumbnail(item)
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
        painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(box.adjusted(0, 0, -1, -1), 4, 4)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        text = f"{item.file_name}\n{self._state_text(item) or 'Loading…'}"
        painter.drawText(
            box.adjusted(6, 6, -6, -6),
            int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
            text,
        )

    def _paint_chip(
        self, painter: QPainter, box: QRect, item: AttachmentItem, palette: QPalette
    ) -> None:
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(box.adjusted(0, 0, -1, -1), 5, 5)
        side = 18
        icon = QRect(box.left() + 6, box.center().y() - side // 2, side, side)
        theme.icon("file").paint(painter, icon)
        state = self._state_text(item)
        detail = f"{size_in_words(item.size)}" + (f" · {state}" if state else "")
        fm = painter.fontMetrics()
        detail_w = fm.horizontalAdvance(detail) + 8
        text_rect = box.adjusted(side + 12, 0, -detail_w - 6, 0)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        name = fm.elidedText(item.file_name, Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(
            text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), name
        )
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(
            box.adjusted(0, 0, -8, 0),
            int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight),
            detail,
        )

    def _state_text(self, item: AttachmentItem) -> str:
        sha = item.sha256
        if sha in self._fetching:
            done, total = self._progress.get(sha, (0, item.size))
            percent = int(100 * done / total) if total else 0
            return f"Downloading… {percent} %"
        if sha in self._unavailable:
            return "Unavailable offline"
        return ""

    # ---- fetching and thumbnails -------------------------------------------------------

    def _want_thumbnail(self, item: AttachmentItem) -> None:
        """Shown: decode it if it is here, else fetch it (once) and decode it then."""
        sha = item.sha256
        if sha in self._decoding or sha in self._fetching or sha in self._unavailable:
            return
        path = self.bridge.engine.attachments.local_path(sha)
        if path is not None:
            self._decoding.add(sha)
            box = THUMB_BOX * max(1.0, self.view.devicePixelRatioF())
            QThreadPool.globalInstance().start(_DecodeThumbnail(sha, path, box, self._decoded))
            return
        self._fetch(item, then=lambda _p: self._want_thumbnail(item))

    def _fetch(self, item: AttachmentItem, then: Callable[[Path], None]) -> None:
        sha = item.sha256
        self._fetching.add(sha)
        self._unavailable.discard(sha)

        def fetched(path: Path) -> None:
            self._fetching.discard(sha)
            self._refresh()
            then(path)

        def failed(exc: BaseException) -> None:
            self._fetching.discard(sha)
            if not isinstance(exc, KnownError):
                self.bridge.taskFailed.emit(exc)
                return
            self._unavailable.add(sha)
            self._refresh()

        self.bridge.run(
            self.bridge.engine.attachments.fetch(sha), on_result=fetched, on_error=failed
        )

    def _thumbnail_ready(self, sha256: str, image: QImage) -> None:
        self._decoding.discard(sha256)
        if not image.isNull():
            image.setDevicePixelRatio(max(1.0, self.view.devicePixelRatioF()))
        self._thumbs[sha256] = image
        self._refresh()

    def _progressed(self, sha256: str, done: int, total: int) -> None:
        if sha256 in self._fetching:
            self._progress[sha256] = (done, total)
            self.view.viewport().update()

    def _refresh(self) -> None:
        self.view.scheduleDelayedItemsLayout()
        self.view.viewport().update()

    # ---- opening and saving ------------------------------------------------------------

    def open(self, item: AttachmentItem) -> None:
        """Open with the system's application (fetched first if needed)."""
        if is_program(item.file_name):
            self.notice.emit(
                f"{item.file_name} is a program or script: Switchboard does not open those. "
                "Save it and have it checked first."
            )
            return
        engine = self.bridge.engine.attachments
        if engine.local_path(item.sha256) is None:
            self._fetching.add(item.sha256)  # shows "Downloading…" on its chip
            self._refresh()

        def opened(path: Path) -> None:
            self._fetching.discard(item.sha256)
            self._refresh()
            if not self.open_url(QUrl.fromLocalFile(str(path))):
                self.notice.emit(f"No application on this computer opens {item.file_name}.")

        self.bridge.run(
            engine.copy_to_open(item.sha256, item.file_name),
            on_result=opened,
            on_error=lambda exc: self._not_available(item, exc),
        )

    def save_as(self, item: AttachmentItem) -> None:
        """Ask where, then write a copy there (fetched first if needed)."""
        target, _filter = QFileDialog.getSaveFileName(
            self.view, f"Save {item.file_name}", item.file_name
        )
        if not target:
            return
        engine = self.bridge.engine.attachments
        self.bridge.run(
            engine.save_as(item.sha256, Path(target)),
            on_result=lambda _r: self.notice.emit(f"Saved {Path(target).name}."),
            on_error=lambda exc: self._not_available(item, exc),
        )

    def _not_available(self, item: AttachmentItem, exc: BaseException) -> None:
        self._fetching.discard(item.sha256)
        if isinstance(exc, KnownError):
            self._unavailable.add(item.sha256)
            self._refresh()
            self.notice.emit(f"{item.file_name} is {exc}")
        elif isinstance(exc, OSError):
            self.notice.emit(f"{item.file_name} could not be written: {exc.strerror or exc}")
        else:
            self.bridge.taskFailed.emit(exc)

    # ---- mouse and keys ----------------------------------------------------------------

    def item_at(self, pos: QPoint) -> AttachmentItem | None:
        """The file painted at ``pos`` (viewport coordinates) in the row there now."""
        index = self.view.indexAt(pos)
        if not index.isValid():
            return None
        from app.ui.conversation.thread import ThreadRole

        for rect, item in self._hits.get(str(index.data(ThreadRole.ID)), ()):
            if rect.contains(pos):
                return item
        return None

    def files_of_current(self) -> tuple[AttachmentItem, ...]:
        index = self.view.currentIndex()
        if not index.isValid():
            return ()
        from app.ui.conversation.thread import ThreadRole

        return self.by_message.get(str(index.data(ThreadRole.ID)), ())

    def menu_for(self, items: Iterable[AttachmentItem], parent: QWidget) -> QMenu:
        menu = QMenu(parent)
        menu.setAccessibleName("Attachment menu")
        items = list(items)
        for item in items:
            label = item.file_name.replace("&", "&&")
            if not is_program(item.file_name):
                menu.addAction(f"Open {label}", partial(self.open, item))
            menu.addAction(f"Save {label} as…", partial(self.save_as, item))
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is self.view.viewport():
            if kind == QEvent.Type.MouseButtonDblClick and isinstance(event, QMouseEvent):
                item = self.item_at(event.position().toPoint())
                if item is not None:
                    self.open(item)
                    return True
            elif kind == QEvent.Type.ContextMenu:
                pos = event.pos()  # type: ignore[attr-defined]
                item = self.item_at(pos)
                if item is not None:
                    self.menu_for([item], self.view).exec(self.view.viewport().mapToGlobal(pos))
                    return True
        elif watched is self.view and kind == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            from app.ui.conversation.thread import ThreadRole

            failed = self.view.currentIndex().data(ThreadRole.DELIVERY) == "failed"
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not failed:
                # (On a message that was not sent, Enter opens its review, as without files.)
                items = self.files_of_current()
                if len(items) == 1 and not is_program(items[0].file_name):
                    self.open(items[0])
                    return True
                if items:
                    rect = self.view.visualRect(self.view.currentIndex())
                    self.menu_for(items, self.view).exec(
                        self.view.viewport().mapToGlobal(rect.center())
                    )
                    return True
        return super().eventFilter(watched, event)


# ---- one conversation: composer and thread together ------------------------------------------


class ConversationAttachments(QObject):
    """Attachments for one conversation view: what the composer attaches, what the thread
    shows.  ``tray.files()`` is what goes with the next message."""

    def __init__(
        self,
        bridge: Bridge,
        ticket_id: str,
        thread_view: ThreadView,
        composer: Composer,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.ticket_id = ticket_id
        self.composer = composer
        self.thread_view = thread_view
        self._closed = False
        self._reading = False
        self._read_again = False
        self.thread_files = ThreadFiles(bridge, thread_view)
        self.thread_files.notice.connect(composer.notice.show_text)

        self.tray = AttachmentTray(composer)
        column = composer.layout()
        assert isinstance(column, QVBoxLayout)  # the composer's: notice, text, buttons
        column.insertWidget(1, self.tray)
        self.tray.changed.connect(composer.refresh_send_state)
        composer.has_files = lambda: bool(self.tray.chips)

        self.attach_button = QToolButton(composer)
        self.attach_button.setIcon(theme.icon("attach"))
        self.attach_button.setText("Attach")
        self.attach_button.setAccessibleName("Attach files")
        self.attach_button.setToolTip(f"Attach files ({shortcuts.label('attach_file')})")
        self.attach_button.clicked.connect(self.choose_files)
        row = _layout_holding(column, composer.send_button)
        if row is not None:
            row.insertWidget(row.indexOf(composer.send_button), self.attach_button)
        shortcuts.bind(
            composer.parentWidget() or composer,
            "attach_file",
            self.choose_files,
            Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        # Drops on the thread or the text, and Ctrl+V with a picture on the clipboard.
        for target in (thread_view.viewport(), composer.editor.viewport(), composer.editor):
            target.installEventFilter(self)
        thread_view.viewport().setAcceptDrops(True)
        bridge.entitiesChanged.connect(self._entities_changed)
        self.reload()

    def close(self) -> None:
        self._closed = True

    # ---- the thread's files ------------------------------------------------------------

    def reload(self) -> None:
        if self._closed:
            return
        if self._reading:
            self._read_again = True
            return
        self._reading = True

        def done(by_message: dict[str, tuple[AttachmentItem, ...]]) -> None:
            self._reading = False
            if self._closed:
                return
            self.thread_files.set_files(by_message)
            if self._read_again:
                self._read_again = False
                self.reload()

        def failed(exc: BaseException) -> None:
            self._reading = False
            self.bridge.taskFailed.emit(exc)

        self.bridge.run(
            self.bridge.attachments.of_ticket(self.ticket_id), on_result=done, on_error=failed
        )

    def _entities_changed(self, notice: ChangeNotice) -> None:
        if "attachment" in notice.kinds_of(self.ticket_id):
            self.reload()

    # ---- attaching ---------------------------------------------------------------------

    def choose_files(self) -> None:
        paths, _filter = QFileDialog.getOpenFileNames(
            self.composer, "Attach files", "", "All files (*)"
        )
        self.attach_paths([Path(p) for p in paths])

    def attach_paths(self, paths: Iterable[Path]) -> None:
        """Copy each file in and show its chip, in order; refused files are said in the
        notice bar (the others are still attached)."""
        engine = self.bridge.engine.attachments
        copies: list[Callable[[], Coroutine[Any, Any, AttachedFile]]] = []
        for path in paths:
            if not path.is_file():
                self.composer.notice.show_text(f"{path.name} is not a file: it was not attached.")
                continue
            mime = _mime_of(path)
            width, height = _image_size(path) if mime.startswith("image/") else (None, None)
            copies.append(partial(engine.attach_file, path, mime, width=width, height=height))
        self._attach(copies)

    def attach_image(self, image: QImage, when: datetime | None = None) -> None:
        """A pasted screenshot, as a PNG named for when it was pasted."""
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; str works
        buffer.close()
        name = screenshot_name(when or datetime.now().astimezone())
        copy = partial(
            self.bridge.engine.attachments.attach_bytes,
            bytes(data.data()),
            name,
            "image/png",
            width=image.width(),
            height=image.height(),
        )
        self._attach([copy])

    def _attach(self, copies: list[Callable[[], Coroutine[Any, Any, AttachedFile]]]) -> None:
        async def one_by_one() -> None:
            for copy in copies:
                try:
                    attached = await copy()
                except KnownError as exc:
                    self.composer.notice.show_text(f"Not attached: {exc}")
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    self.composer.notice.show_text(
                        f"Not attached: the file cannot be read ({reason})."
                    )
                else:
                    if not self._closed:
                        self.tray.add(attached)

        if copies:
            self.bridge.run(one_by_one())

    def take_files(self) -> tuple[AttachedFile, ...]:
        """What goes with the message being sent; the tray empties."""
        files = self.tray.files()
        self.tray.set_files(())
        return files

    def give_back(self, files: Iterable[AttachedFile]) -> None:
        """The send failed: the files go back to the tray."""
        for attached in files:
            self.tray.add(attached)

    def give_back_from(self, attachments: object) -> None:
        """The files of a refused message the agent edits (``message.add``'s
        ``attachments``) back in the tray."""
        if not isinstance(attachments, list):
            return
        for a in attachments:
            if isinstance(a, dict) and isinstance(a.get("sha256"), str):
                self.tray.add(
                    AttachedFile(
                        str(a["sha256"]),
                        int(a.get("size", 0)),
                        str(a.get("file_name", "attachment")),
                        str(a.get("mime_type", "application/octet-stream")),
                        a.get("width"),
                        a.get("height"),
                    )
                )

    # ---- drops and pastes --------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, QDragEnterEvent)
            if _local_files(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            files = _local_files(event.mimeData())
            if files:
                event.acceptProposedAction()
                self.attach_paths(files)
                return True
        elif kind == QEvent.Type.KeyPress and watched is self.composer.editor:
            assert isinstance(event, QKeyEvent)
            if event.matches(QKeySequence.StandardKey.Paste):
                mime = QGuiApplication.clipboard().mimeData()
                files = _local_files(mime)
                if files:
                    self.attach_paths(files)
                    return True
                if mime is not None and mime.hasImage() and not mime.hasText():
                    image = QGuiApplication.clipboard().image()
                    if not image.isNull():
                        self.attach_image(image)
                        return True
        return super().eventFilter(watched, event)


def _local_files(mime: QMimeData | None) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def _layout_holding(layout: QLayout, widget: QWidget) -> QHBoxLayout | None:
    """The row of ``layout`` that holds ``widget`` (the composer's buttons)."""
    for i in range(layout.count()):
        item = layout.itemAt(i)
        child = item.layout() if item is not None else None
        if isinstance(child, QHBoxLayout) and child.indexOf(widget) >= 0:
            return child
    return None


__all__ = [
    "AttachmentTray",
    "ConversationAttachments",
    "ThreadFiles",
    "attachments_body",
    "is_program",
    "safe_file_name",
    "screenshot_name",
]
