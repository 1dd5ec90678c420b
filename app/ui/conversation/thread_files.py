"""The files under each message of a conversation's thread.

Pictures show as thumbnails under their message (decoded off the UI thread, at thumbnail
size, by ``QImageReader``) and other files as chips with an icon, name and size.
Double-click or Enter opens a file with the system's application (a read-only copy under its
real name; Enter on a message with several files, the context menu or the Menu key offer each
file's "Open" and "Save as…"), "Save as…" writes a copy where the agent chooses.  The agent's
own files say "Uploading… 40 %" while they go to the server.  A colleague's file is fetched
when its thumbnail is first shown or when it is opened ("Downloading… 40 %"), and kept for
offline use; one never fetched says "Unavailable offline".  Programs and scripts are never
opened (`app.files.is_program`): the agent may save them and have them checked first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from PySide6.QtCore import (
    QEvent,
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
    QImage,
    QImageReader,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from app.files import is_program, size_in_words
from app.sync.desk.attachments import AttachmentItem
from app.sync.engine import KnownError
from app.ui import theme
from app.ui.conversation.thread import ThreadRole

if TYPE_CHECKING:
    from app.ui.bridge import Bridge
    from app.ui.conversation.thread import ThreadView

_FILTERED = (QEvent.Type.MouseButtonDblClick, QEvent.Type.ContextMenu, QEvent.Type.KeyPress)
THUMB_BOX = QSize(176, 120)  # the largest thumbnail, in device-independent pixels
CHIP_H = 30
GAP = 6


# ---- progress, shared by every conversation of one desk -------------------------------------


class TransferProgress(QObject):
    """The engine's transfer progress as a signal: ``progressed(sha256, done, total,
    upload)``."""

    progressed = Signal(str, int, int, bool)


_PROGRESS: WeakKeyDictionary[Bridge, TransferProgress] = WeakKeyDictionary()


def transfer_progress(bridge: Bridge) -> TransferProgress:
    progress = _PROGRESS.get(bridge)
    if progress is None:
        progress = TransferProgress(bridge)
        _PROGRESS[bridge] = progress
        emit = progress.progressed.emit
        bridge.engine.attachments.on_progress = emit
    return progress


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
        self._uploading: dict[str, tuple[int, int]] = {}
        self._hits: dict[str, list[tuple[QRect, AttachmentItem]]] = {}
        # How a file reaches the system's application (the desktop's file associations).
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        # No parent: a decode still running when the thread closes emits into this object,
        # which the decode keeps alive; the connection below ends with this ThreadFiles.
        self._decoded = _Decoded()
        self._decoded.done.connect(self._thumbnail_ready)
        transfer_progress(bridge).progressed.connect(self._progressed)
        bridge.connectionChanged.connect(self._connection_changed)
        # Kept here: the filter compares against these without asking a widget that may be
        # in the middle of being destroyed (a C++ call then crashes).
        self._viewport = view.viewport()
        self._viewport.installEventFilter(self)
        view.installEventFilter(self)
        view.thread_delegate.files = self
        view.thread_model.files_text = self.files_in_words

    def _connection_changed(self, _status: object) -> None:
        self._unavailable.clear()  # worth trying again

    def set_files(self, by_message: dict[str, tuple[AttachmentItem, ...]]) -> None:
        if by_message == self.by_message:
            return
        self.by_message = by_message
        self.view.scheduleDelayedItemsLayout()
        self.view.viewport().update()

    def has_thumbnail(self, sha256: str) -> bool:
        """Whether the picture with these bytes is decoded and shown (or known unreadable)."""
        return sha256 in self._thumbs

    def files_in_words(self, message_id: str) -> str:
        """What a screen reader says of a message's files."""
        items = self.by_message.get(message_id, ())
        if not items:
            return ""
        named = ", ".join(f"{i.file_name} ({size_in_words(i.size)})" for i in items)
        return ("Attached file: " if len(items) == 1 else "Attached files: ") + named

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
        if sha in self._uploading:
            done, total = self._uploading[sha]
            return f"Uploading… {int(100 * done / total) if total else 0} %"
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

    def _progressed(self, sha256: str, done: int, total: int, upload: bool) -> None:
        if not upload:
            self._progress[sha256] = (done, total)
        elif done < total:  # one of ours on its way to the server
            self._uploading[sha256] = (done, total)
        else:
            self._uploading.pop(sha256, None)
        self.view.viewport().update()

    def _refresh(self) -> None:
        self.view.scheduleDelayedItemsLayout()
        self.view.viewport().update()

    # ---- opening and saving ------------------------------------------------------------

    def open(self, item: AttachmentItem) -> None:
        """Open with the system's application (fetched first if needed)."""
        if is_program(item.file_name):
            self.notice.emit(
                f"Switchboard opens documents, pictures and media only, not {item.file_name} "
                "(it could run something). Save it and have it checked first."
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
        for rect, item in self._hits.get(str(index.data(ThreadRole.ID)), ()):
            if rect.contains(pos):
                return item
        return None

    def files_of_current(self) -> tuple[AttachmentItem, ...]:
        index = self.view.currentIndex()
        if not index.isValid():
            return ()
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
        if kind not in _FILTERED:
            return False
        if watched is self._viewport:
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
            if event.key() == Qt.Key.Key_Menu or (
                event.key() == Qt.Key.Key_F10
                and event.modifiers() == Qt.KeyboardModifier.ShiftModifier
            ):
                items = self.files_of_current()
                if items:  # the files' menu (open, save as…) from the keyboard
                    rect = self.view.visualRect(self.view.currentIndex())
                    self.menu_for(items, self.view).exec(
                        self.view.viewport().mapToGlobal(rect.center())
                    )
                    return True
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
        return False
