"""The log file, the crash reporter and plain-words explanations of known errors.

Two kinds of failure reach the agent.  *Known* ones — the server unreachable, the session
over, the disk full, the database locked, a permission refused — are the world's fault, not
a bug: ``explain()`` turns them into what happened and what to do.  Everything else is a
bug: its traceback goes to the log file and into a ``CrashDialog`` with a "Copy details"
button, and the agent chooses to carry on or quit.  A burst of errors never stacks dialogs:
while one is open, further reports are added to it.

``install_excepthook`` routes every way an exception can escape into the reporter:
``sys.excepthook`` (Qt slots and virtual overrides), ``threading.excepthook`` (worker
threads; marshalled to the UI thread by a queued signal), the asyncio loop's exception
handler, and the bridge's ``taskFailed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import logging.handlers
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs
from PySide6.QtCore import QObject, Qt, QTimer, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.sync.engine import KnownError, SignedOut

log = logging.getLogger(__name__)
LOG_FILE_NAME = "switchboard.log"
LOG_MAX_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 5
MAX_DETAILS_CHARS = 60_000  # a runaway burst must not make the dialog unusable

_handler: logging.Handler | None = None
_level_before: int | None = None  # the root logger's level before install_logging
_qt_handler_before: Any = None


def log_dir() -> Path:
    override = os.environ.get("SWITCHBOARD_LOG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_log_dir("switchboard", "Switchboard"))


def _qt_message(mode: QtMsgType, context: Any, message: str) -> None:
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(mode, logging.WARNING)
    logging.getLogger("qt").log(level, "%s", message)


def install_logging(level: int = logging.INFO) -> Path:
    """Log to a rotating file (``SWITCHBOARD_LOG_DIR`` or the OS's log folder) and route Qt's
    own warnings there too; returns the file's path.  Calling it again replaces the handler."""
    global _handler
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_FILE_NAME
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    global _level_before, _qt_handler_before
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    else:
        _level_before = root.level
        _qt_handler_before = qInstallMessageHandler(_qt_message)
    _handler = handler
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path


def uninstall_logging() -> None:
    """Undo ``install_logging``: the file handler goes, levels and Qt's handler come back."""
    global _handler, _level_before, _qt_handler_before
    if _handler is None:
        return
    root = logging.getLogger()
    root.removeHandler(_handler)
    _handler.close()
    _handler = None
    if _level_before is not None:
        root.setLevel(_level_before)
    qInstallMessageHandler(_qt_handler_before)
    _level_before = _qt_handler_before = None


# ---- known errors ------------------------------------------------------------------------

_DISK_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk full")
_LOCKED_TEXTS = ("database is locked", "database table is locked")
_READ_ONLY_TEXTS = ("attempt to write a readonly database", "readonly database")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (SQLAlchemy wraps sqlite3's errors)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def explain(exc: BaseException) -> str | None:
    """What happened and what to do, for errors the agent (or IT) can fix; None for bugs."""
    from app.ui.session import SignInError  # here: session imports the engine, as we do

    work_safe = f"Your work is safe in {_data_location()}."
    for e in _chain(exc):
        text = str(e).lower()
        if isinstance(e, SignInError):
            return str(e)
        if isinstance(e, SignedOut):
            return "Your session has ended. Sign in again to keep working; nothing was lost."
        if isinstance(e, KnownError):
            return f"That did not work: {e}."
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return f"The disk is full. Free some space, then carry on. {work_safe}"
        if any(t in text for t in _DISK_FULL_TEXTS):
            return f"The disk is full. Free some space, then carry on. {work_safe}"
        if any(t in text for t in _LOCKED_TEXTS):
            return (
                "Switchboard's data is busy in another program (is Switchboard open twice, "
                "or is a backup or antivirus scan running?). Close the other one and try again."
            )
        if any(t in text for t in _READ_ONLY_TEXTS) or isinstance(e, PermissionError):
            where = getattr(e, "filename", None) or _data_location()
            return (
                f"Switchboard may not write to {where}. Ask IT to give your account "
                "permission to change it."
            )
        if isinstance(e, ConnectionError | TimeoutError) or (
            isinstance(e, OSError)
            and e.errno in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH)
        ):
            return (
                "The server cannot be reached. Check the network connection; Switchboard "
                "keeps working offline and sends your changes when the server is back."
            )
    return None


def _data_location() -> str:
    from app.sync.profile import data_dir

    return str(data_dir())


# ---- the dialog --------------------------------------------------------------------------


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class CrashDialog(QDialog):
    """Something unexpected went wrong: the details, a "Copy details" button, the log file,
    and a choice between carrying on (Close) and quitting.

    Signals: ``quitRequested()`` — the agent chose Quit.
    """

    quitRequested = Signal()

    def __init__(self, details: str, log_path: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Switchboard ran into a problem")
        self.setAccessibleName("Error report")
        self.occurrences = 1
        headline = QLabel(
            "<b>Something went wrong that Switchboard did not expect.</b><br>"
            "Your drafts and changes are saved on this computer. You can close this message "
            "and carry on, or quit and start Switchboard again. If it happens again, copy "
            "the details and send them to your IT team."
        )
        headline.setWordWrap(True)
        headline.setTextFormat(Qt.TextFormat.RichText)
        self.count_label = QLabel()
        self.count_label.setAccessibleName("How many times it happened")
        self.count_label.hide()
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setAccessibleName("Error details")
        self.details.setMinimumSize(560, 220)
        self.log_label = QLabel(
            f"Also written to the log file: {log_path}" if log_path else "No log file is kept."
        )
        self.log_label.setWordWrap(True)
        self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_label.setAccessibleName("Log file")
        self.copy_button = QPushButton("Copy details")
        self.copy_button.setAccessibleName("Copy details")
        self.copy_button.setToolTip("Put the error details on the clipboard")
        self.copy_button.clicked.connect(self.copy_details)
        self.copied_label = QLabel()
        buttons = QDialogButtonBox()
        self.close_button = buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button.setAccessibleName("Close and carry on")
        self.quit_button = buttons.addButton("Quit", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.quit_button.setAccessibleName("Quit Switchboard")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.reject)
        self.quit_button.clicked.connect(self._quit)
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.copied_label)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addWidget(self.count_label)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.log_label)
        layout.addLayout(row)

    def details_text(self) -> str:
        return self.details.toPlainText()

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details_text())
        self.copied_label.setText("Copied")

    def repeated(self) -> None:
        """The same error happened again while this dialog was open."""
        self.occurrences += 1
        self.count_label.setText(f"This happened {self.occurrences} times.")
        self.count_label.show()

    def add_details(self, details: str) -> None:
        """A different error happened while this dialog was open: append it."""
        text = f"{self.details_text()}\n---- and then ----\n{details}"
        if len(text) > MAX_DETAILS_CHARS:
            text = text[:MAX_DETAILS_CHARS] + "\n…(more in the log file)"
        self.details.setPlainText(text)

    def _quit(self) -> None:
        self.quitRequested.emit()
        self.done(QDialog.DialogCode.Rejected)


# ---- the reporter ------------------------------------------------------------------------


def _signature(exc: BaseException) -> tuple[str, str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return (type(exc).__qualname__, str(exc), where)


class CrashReporter(QObject):
    """Shows one dialog at a time for uncaught exceptions, from any thread.

    Signals: ``reported(object)`` — an exception reached the reporter (after logging);
    ``quitRequested()`` — the agent chose Quit in a crash dialog.
    """

    reported = Signal(object)
    quitRequested = Signal()
    _arrived = Signal(object)  # from any thread; delivered on the UI thread

    def __init__(self, log_path: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self.dialog: CrashDialog | None = None
        self.notice: QMessageBox | None = None
        self._dialog_signatures: set[tuple[str, str, str]] = set()
        self._notice_texts: set[str] = set()
        self._uninstall: list[Callable[[], None]] = []
        self._arrived.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def report(self, exc: BaseException) -> None:
        """Log ``exc`` and show it (safe from any thread)."""
        if explain(exc) is None:
            log.error("uncaught exception", exc_info=exc)
        else:
            log.warning("known error: %s", exc)
        if threading.current_thread() is threading.main_thread():
            self._show(exc)
        else:
            self._arrived.emit(exc)

    def _show(self, exc: BaseException) -> None:
        self.reported.emit(exc)
        known = explain(exc)
        if known is not None:
            self._show_notice(known)
            return
        details = format_exception(exc)
        signature = _signature(exc)
        if self.dialog is not None:
            if signature in self._dialog_signatures:
                self.dialog.repeated()
            else:
                self._dialog_signatures.add(signature)
                self.dialog.add_details(details)
            return
        self._dialog_signatures = {signature}
        dialog = CrashDialog(details, self.log_path, _active_window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.quitRequested.connect(self.quitRequested)
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()

    def _dialog_closed(self) -> None:
        self.dialog = None
        self._dialog_signatures = set()

    def _show_notice(self, text: str) -> None:
        if self.notice is not None:
            if text not in self._notice_texts:
                self._notice_texts.add(text)
                self.notice.setText(f"{self.notice.text()}\n\n{text}")
            return
        self._notice_texts = {text}
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Switchboard",
            text,
            QMessageBox.StandardButton.Ok,
            _active_window(),
        )
        box.setAccessibleName("Problem")
        box.setTextFormat(Qt.TextFormat.PlainText)  # error text may quote data: never markup
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._notice_closed)
        self.notice = box
        box.open()

    def _notice_closed(self) -> None:
        self.notice = None
        self._notice_texts = set()

    # ---- hooks ---------------------------------------------------------------------------

    def _excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            QApplication.quit()
            return
        self.report(exc.with_traceback(tb))

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        self.report(args.exc_value.with_traceback(args.exc_traceback))

    def _loop_hook(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, BaseException):
            # A warning from asyncio itself (e.g. a slow callback): log it, it is no crash.
            log.warning("asyncio: %s", context.get("message", context))
            return
        if isinstance(exc, asyncio.CancelledError):
            return
        self.report(exc)

    def uninstall(self) -> None:
        """Put back the hooks that were there before ``install_excepthook``."""
        while self._uninstall:
            self._uninstall.pop()()


def _active_window() -> QWidget | None:
    return QApplication.activeWindow()


def install_excepthook(
    log_path: Path | None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    bridge: Any = None,
    parent: QObject | None = None,
) -> CrashReporter:
    """Send every uncaught exception to one ``CrashReporter`` (returned; keep it, and call
    ``uninstall()`` to restore the previous hooks).

    ``loop``: the qasync loop (default: the running one; pass it when calling this before
    the loop runs).  ``bridge``: its
    ``taskFailed`` signal (background tasks nobody awaited) is reported too.
    """
    reporter = CrashReporter(log_path, parent if parent is not None else QApplication.instance())
    previous_sys, previous_thread = sys.excepthook, threading.excepthook
    sys.excepthook = reporter._excepthook
    threading.excepthook = reporter._thread_hook

    def restore_hooks() -> None:
        sys.excepthook, threading.excepthook = previous_sys, previous_thread

    reporter._uninstall.append(restore_hooks)
    if loop is None:
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
    if loop is not None:
        previous_loop_handler = loop.get_exception_handler()
        loop.set_exception_handler(reporter._loop_hook)
        target = loop
        reporter._uninstall.append(lambda: target.set_exception_handler(previous_loop_handler))
    if bridge is not None:
        bridge.taskFailed.connect(reporter.report)
        reporter._uninstall.append(lambda: bridge.taskFailed.disconnect(reporter.report))
    return reporter


# ---- garbage collection on the UI thread ---------------------------------------------------


class UiThreadGarbageCollector(QObject):
    """Runs Python's cycle collector on the UI thread only.

    Left to itself the collector runs on whichever thread happens to allocate — often the
    cache or desk-reader thread.  A widget it frees there is destroyed on the wrong thread:
    its timers cannot be stopped from there and later fire on freed memory (a segfault in
    ``QTimerInfoList::activateTimers``).  So automatic collection is switched off and this
    timer collects the young generations as the thresholds say.

    The oldest generation is collected at most every ``FULL_EVERY_S``: it holds the list's
    rows and the open threads (hundreds of thousands of objects), and a full collection of
    them is a pause of 100 ms or more.  Python's own collector holds back in the same way
    (it skips a full collection until the long-lived objects grew by a quarter); an
    explicit ``gc.collect(2)`` would not.
    """

    FULL_EVERY_S = 30.0

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._last_full = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = -1
        for gen in range(3):
            if counts[gen] > thresholds[gen]:
                generation = gen
        if generation == 2 and time.monotonic() - self._last_full < self.FULL_EVERY_S:
            generation = 1
        if generation == 2:
            self._last_full = time.monotonic()
        if generation >= 0:
            gc.collect(generation)

    def uninstall(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()


def install_ui_thread_gc(parent: QObject | None = None) -> UiThreadGarbageCollector:
    """Collect garbage on the UI thread only (keep the returned object for the app's life)."""
    return UiThreadGarbageCollector(parent if parent is not None else QApplication.instance())
