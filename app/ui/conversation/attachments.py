"""Attachments in a conversation: attaching in the composer (the thread's side is in
``thread_files.py``).

In the composer the agent attaches files with the paperclip button or Ctrl+Shift+A, by
dropping files on the conversation, or by pasting a screenshot (Ctrl+V with a picture on the
clipboard becomes "Screenshot 2026-12-08 at 14.02.09.png", as macOS names them).  Each file
is copied into the workstation's file store at once and shows as a chip (name, size, remove)
until the message is sent, kept on this workstation meanwhile; a file over the server's limit
is refused at once, in words that name the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QEvent,
    QIODevice,
    QMimeData,
    QObject,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QImageReader,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
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
from app.ui.conversation.thread_files import CHIP_H, GAP, ThreadFiles

if TYPE_CHECKING:
    from app.ui.bridge import Bridge
    from app.ui.conversation.composer import Composer
    from app.ui.conversation.thread import ThreadView


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
        self._editor = composer.editor
        self._watched = (thread_view.viewport(), composer.editor.viewport(), composer.editor)
        for target in self._watched:
            target.installEventFilter(self)
        thread_view.viewport().setAcceptDrops(True)
        bridge.entitiesChanged.connect(self._entities_changed)
        self.reload()
        # Files attached here before (a closed tab, a crash) come back; changes are kept.
        self._restored = False
        self.tray.changed.connect(self._keep_tray)
        bridge.run(
            bridge.engine.attachments.composer_files(ticket_id),
            on_result=self._restore_tray,
            on_error=lambda exc: bridge.taskFailed.emit(exc),
        )

    def close(self) -> None:
        """The conversation is closing: stop watching its widgets."""
        self._closed = True
        for target in self._watched:
            target.removeEventFilter(self)

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

    def _restore_tray(self, files: list[AttachedFile]) -> None:
        if self._closed:
            return
        self._restored = True
        for attached in files:
            self.tray.add(attached)
        self._keep_tray()

    def _keep_tray(self) -> None:
        if not self._restored or self._closed:
            return  # until the kept files are back, keeping would forget them
        files = self.tray.files()
        self.bridge.run(self.bridge.engine.attachments.keep_composer_files(self.ticket_id, files))

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
        if kind not in _FILTERED:
            return False
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
        elif kind == QEvent.Type.KeyPress and watched is self._editor:
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
        return False


_FILTERED = (
    QEvent.Type.DragEnter,
    QEvent.Type.DragMove,
    QEvent.Type.Drop,
    QEvent.Type.KeyPress,
)


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
    "safe_file_name",
    "screenshot_name",
]
