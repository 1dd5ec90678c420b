"""The sign-in dialog, and the sign-out confirmation.

``SignInDialog`` asks for the server address, email and password, signs in on the asyncio
loop (the window stays responsive, with a busy state), and explains failures in plain words
with what to do.  Where this computer has no keychain it says so *before* sign-in: the
session will last for this run only.  ``run_sign_in()`` shows it and returns the session.

``SignOutDialog`` confirms signing out, offers to delete this computer's copy of the
tickets, and never deletes unsent changes without an explicit, counted confirmation.
"""

from __future__ import annotations

import asyncio
import html
import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from app.sync import credentials
from app.sync.profile import DEFAULT_SERVER, Profile
from app.ui import theme
from app.ui.session import (
    Session,
    SignInError,
    SignInProblem,
    SignOutResult,
    sign_in,
    sign_out,
    unsent_changes,
)

if TYPE_CHECKING:
    from app.ui.bridge import Bridge

log = logging.getLogger(__name__)
NO_KEYCHAIN_TEXT = "This computer has no keychain: you will need to sign in again next time."


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class SignInDialog(QDialog):
    """Server address, email, password and "Keep me signed in".

    Signals: ``signedIn(Session)`` — sign-in succeeded (the dialog then accepts itself).
    ``session`` holds the result afterwards.
    """

    signedIn = Signal(object)  # Session

    def __init__(
        self,
        profile: Profile | None = None,
        parent: QWidget | None = None,
        *,
        keychain: bool | None = None,
    ) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self._task: asyncio.Task[Session] | None = None
        self._abandoned = False  # the agent closed the dialog while it was signing in
        self._wait_left = 0
        self.keychain = credentials.keychain_available() if keychain is None else keychain
        self.setWindowTitle("Sign in to Switchboard")
        self.setWindowIcon(theme.app_icon())
        self.setAccessibleName("Sign in to Switchboard")
        self.setMinimumWidth(420)

        heading = QLabel("<b>Sign in to Switchboard</b>")
        heading.setTextFormat(Qt.TextFormat.RichText)

        self.server_edit = QLineEdit(profile.server if profile else DEFAULT_SERVER)
        self.server_edit.setPlaceholderText("desk.example.com:8765")
        self.server_edit.setAccessibleName("Server address")
        self.server_edit.setToolTip("The address your team's Switchboard server has")
        self.email_edit = QLineEdit(profile.email if profile else "")
        self.email_edit.setPlaceholderText("you@example.com")
        self.email_edit.setAccessibleName("Email")
        self.email_edit.setInputMethodHints(Qt.InputMethodHint.ImhEmailCharactersOnly)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        self.password_edit.setInputMethodHints(
            Qt.InputMethodHint.ImhHiddenText | Qt.InputMethodHint.ImhSensitiveData
        )
        self.keep_check = QCheckBox("&Keep me signed in")
        self.keep_check.setAccessibleName("Keep me signed in")
        self.keep_check.setToolTip("Keep the session in this computer's keychain")
        self.keychain_note = QLabel(NO_KEYCHAIN_TEXT)
        self.keychain_note.setWordWrap(True)
        self.keychain_note.setAccessibleName("No keychain")
        if self.keychain:
            self.keep_check.setChecked(True)
            self.keychain_note.hide()
        else:
            # Nowhere safe to keep it: the session lasts for this run, never in a file.
            self.keep_check.setChecked(False)
            self.keep_check.setEnabled(False)

        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # a server's words, not markup
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName("Sign-in problem")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(f"color: {theme.colors().failed.name()};")
        self.error_label.hide()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: we cannot know how long a server takes
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(6)
        self.busy_bar.setAccessibleName("Signing in")
        self.busy_bar.hide()

        form = QFormLayout()
        server_label = QLabel("&Server:")
        server_label.setBuddy(self.server_edit)
        email_label = QLabel("&Email:")
        email_label.setBuddy(self.email_edit)
        password_label = QLabel("&Password:")
        password_label.setBuddy(self.password_edit)
        form.addRow(server_label, self.server_edit)
        form.addRow(email_label, self.email_edit)
        form.addRow(password_label, self.password_edit)
        form.addRow("", self.keep_check)
        for edit in (self.server_edit, self.email_edit, self.password_edit):
            # A message appearing below never squeezes a field until its text is cut off.
            edit.setMinimumHeight(edit.sizeHint().height())
            edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance("desk.example.com:8765 "))

        buttons = QDialogButtonBox()
        self.sign_in_button = buttons.addButton("Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.sign_in_button.setAccessibleName("Sign in")
        self.sign_in_button.setDefault(True)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName("Cancel")
        # Enter always signs in: Cancel never becomes the default, not even with focus on it
        # (an auto-default button with focus takes Enter, and quitting is not undoable).
        self.cancel_button.setAutoDefault(False)
        self.sign_in_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.keychain_note)
        layout.addWidget(self.error_label)
        layout.addWidget(self.busy_bar)
        layout.addWidget(buttons)

        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._tick)
        first_empty = next(
            (e for e in (self.server_edit, self.email_edit) if not e.text()), self.password_edit
        )
        first_empty.setFocus()

    # ---- state ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def _set_busy(self, busy: bool) -> None:
        # Read-only, not disabled: a disabled field loses the focus, and Qt hands it to the
        # next button in the chain (Cancel), where Enter would then cancel the next try.
        for widget in (self.server_edit, self.email_edit, self.password_edit):
            widget.setReadOnly(busy)
        self.keep_check.setEnabled(not busy and self.keychain)
        self.sign_in_button.setEnabled(not busy and self._wait_left <= 0)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")
        self.sign_in_button.setDefault(True)
        self.busy_bar.setVisible(busy)
        if busy:
            self.error_label.hide()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setAccessibleDescription(text)
        self.error_label.show()
        # The dialog grows to fit the message rather than squeezing the fields above it.
        layout = self.layout()
        if layout is not None:
            layout.activate()
        wanted = self.sizeHint()
        if self.height() < wanted.height() or self.width() < wanted.width():
            self.resize(max(self.width(), wanted.width()), max(self.height(), wanted.height()))

    # ---- signing in ----------------------------------------------------------------------

    def submit(self) -> None:
        """Sign in with what is typed (the Sign in button and Enter)."""
        if self.busy or self._wait_left > 0:
            return
        server, email = self.server_edit.text().strip(), self.email_edit.text().strip()
        password = self.password_edit.text()
        for edit, value, what in (
            (self.server_edit, server, "the server address"),
            (self.email_edit, email, "your email"),
            (self.password_edit, password, "your password"),
        ):
            if not value:
                self._show_error(f"Type {what}.")
                edit.setFocus()
                return
        self._set_busy(True)
        self._abandoned = False
        keep = self.keep_check.isChecked() and self.keychain
        self._task = asyncio.get_running_loop().create_task(sign_in(server, email, password, keep))
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Session]) -> None:
        self._set_busy(False)
        self._task = None  # the task holds this dialog (its callback): no reference cycle
        if task.cancelled():
            if not self._abandoned:
                # Nobody here cancelled it: a connect timeout surfaced as a cancellation.
                self._show_error(
                    "The server did not answer in time. Check the server address and the "
                    "network connection, then try again."
                )
                self.password_edit.setFocus()
            return
        exc = task.exception()
        if exc is None:
            self.session = task.result()
            self.password_edit.clear()
            self.signedIn.emit(self.session)
            self.accept()
        elif isinstance(exc, SignInError):
            self._refused(exc)
        else:
            self._show_error(
                "Something unexpected went wrong while signing in. Try again; if it keeps "
                "happening, send the error details to your IT team."
            )
            self.password_edit.setFocus()
            sys.excepthook(type(exc), exc, exc.__traceback__)  # the crash reporter's

    def _refused(self, exc: SignInError) -> None:
        self._show_error(str(exc))
        if exc.problem in (
            SignInProblem.UNREACHABLE,
            SignInProblem.ADDRESS,
            SignInProblem.NOT_A_SERVER,
            SignInProblem.TLS,
        ):
            self.server_edit.selectAll()
            self.server_edit.setFocus()
        else:
            # Wrong password, too many tries, switched off: the password is what to retype.
            self.password_edit.selectAll()
            self.password_edit.setFocus()
        if exc.problem == SignInProblem.RATE_LIMITED and exc.retry_after:
            self._wait_left = exc.retry_after
            self._tick_text()
            self._countdown.start()

    def _tick(self) -> None:
        self._wait_left -= 1
        self._tick_text()
        if self._wait_left <= 0:
            self._countdown.stop()

    def _tick_text(self) -> None:
        waiting = self._wait_left > 0
        self.sign_in_button.setEnabled(not waiting and not self.busy)
        self.sign_in_button.setText(f"Try again in {self._wait_left} s" if waiting else "Sign in")

    def _abandon(self) -> None:
        if self._task is not None and not self._task.done():
            self._abandoned = True
            self._task.cancel()  # a sign-in nobody waits for must not finish in the dark

    def reject(self) -> None:
        self._abandon()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._abandon()
        super().closeEvent(event)


async def _dialog_result(dialog: QDialog) -> int:
    """Show ``dialog`` window-modally without a nested event loop and await its result."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not done.done():
            done.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    return await done


async def run_sign_in(
    profile: Profile | None = None, parent: QWidget | None = None
) -> Session | None:
    """Show the sign-in dialog (pre-filled from ``profile``, default the saved one) and
    return the new session, or None if the agent cancelled."""
    if profile is None:
        profile = await asyncio.to_thread(Profile.load)
    dialog = SignInDialog(profile, parent)
    try:
        await _dialog_result(dialog)
        return dialog.session
    finally:
        dialog.deleteLater()


# ---- signing out ---------------------------------------------------------------------------


class SignOutDialog(QDialog):
    """Confirms signing out; optionally deletes this computer's copy of the tickets.

    With changes still waiting to be sent, deleting the copy needs a second, explicit tick
    that names how many changes will be lost; until then "Sign out" is disabled.
    """

    def __init__(self, email: str, unsent: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.unsent = unsent
        self.setWindowTitle("Sign out")
        self.setAccessibleName("Sign out")
        question = QLabel(f"Sign out of Switchboard as <b>{html.escape(email)}</b>?")
        question.setTextFormat(Qt.TextFormat.RichText)
        question.setWordWrap(True)
        self.unsent_label = QLabel(
            f"{_plural(unsent, 'change')} ha{'s' if unsent == 1 else 've'} not reached the "
            "server yet. They stay on this computer and are sent the next time you sign in here."
        )
        self.unsent_label.setWordWrap(True)
        self.unsent_label.setAccessibleName("Changes waiting to be sent")
        self.unsent_label.setVisible(unsent > 0)
        self.delete_check = QCheckBox("Also delete this computer's copy of my tickets")
        self.delete_check.setAccessibleName("Also delete this computer's copy of my tickets")
        self.delete_check.setToolTip(
            "For a shared computer: nothing of yours stays here after signing out"
        )
        self.discard_check = QCheckBox(
            f"Yes, delete my {_plural(unsent, 'unsent change')} too — they will be lost"
        )
        self.discard_check.setAccessibleName("Delete my unsent changes too")
        self.discard_check.setStyleSheet(f"color: {theme.colors().failed.name()};")
        self.discard_check.hide()
        buttons = QDialogButtonBox()
        self.sign_out_button = buttons.addButton("Sign out", QDialogButtonBox.ButtonRole.AcceptRole)
        theme.set_icon(self.sign_out_button, "sign-out")
        self.sign_out_button.setAccessibleName("Sign out")
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName("Cancel")
        self.cancel_button.setDefault(True)
        self.sign_out_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        self.delete_check.toggled.connect(self._update)
        self.discard_check.toggled.connect(self._update)
        layout = QVBoxLayout(self)
        layout.addWidget(question)
        layout.addWidget(self.unsent_label)
        layout.addWidget(self.delete_check)
        row = QHBoxLayout()
        row.addSpacing(24)
        row.addWidget(self.discard_check)
        layout.addLayout(row)
        layout.addWidget(buttons)

    @property
    def delete_cache(self) -> bool:
        return self.delete_check.isChecked()

    @property
    def discard_unsent(self) -> bool:
        return self.unsent > 0 and self.delete_cache and self.discard_check.isChecked()

    def _update(self) -> None:
        risky = self.unsent > 0 and self.delete_cache
        self.discard_check.setVisible(risky)
        if not risky:
            self.discard_check.setChecked(False)
        self.sign_out_button.setEnabled(not risky or self.discard_check.isChecked())


async def confirm_and_sign_out(
    bridge: Bridge, session: Session | None = None, parent: QWidget | None = None
) -> SignOutResult | None:
    """Ask, then sign out (the bridge is shut down); None if the agent cancelled."""
    unsent = await unsent_changes(bridge.engine)
    email = session.email if session else (bridge.directory.me.email if bridge.directory.me else "")
    dialog = SignOutDialog(email, unsent, parent)
    try:
        if await _dialog_result(dialog) != QDialog.DialogCode.Accepted.value:
            return None
        delete, discard = dialog.delete_cache, dialog.discard_unsent
    finally:
        dialog.deleteLater()
    return await sign_out(bridge, delete_cache=delete, session=session, discard_unsent=discard)
