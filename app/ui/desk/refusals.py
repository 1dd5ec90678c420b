"""Every change of this agent's that the server refused, wherever it was made.

A refusal of a ticket open in a tab is reviewed there (send anyway, edit, discard).  But a
change may be refused with no tab open: a bulk status change from the list, a reply sent
offline from a tab closed since, a canned response.  The status bar's button counts them all
and opens this list, so no refusal goes unseen: the agent opens the ticket to review it, or
copies the text, or discards it.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk_types import Refusal
from app.sync.notice import ChangeNotice
from app.ui import theme
from app.ui.bridge import Bridge
from app.ui.conversation.review import Explainer

log = logging.getLogger(__name__)
AnyIndex = QModelIndex | QPersistentModelIndex

HEADERS = ("Ticket", "What", "Why", "When")


def written_text(r: Refusal) -> str:
    """The text the agent wrote in the refused change ("" if it held none)."""
    # a reply or note: args.message.body; a draft: args.body; a canned response: args.canned.body
    for holder in (r.args.get("message"), r.args, r.args.get("canned")):
        if isinstance(holder, dict) and isinstance(holder.get("body"), str):
            return str(holder["body"])
    return ""


class RefusalsModel(QAbstractTableModel):
    """The refusals, oldest first, with the number of the ticket each concerns."""

    def __init__(self, explainer: Explainer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._explainer = explainer
        self._rows: list[Refusal] = []
        self._numbers: dict[str, str] = {}

    def set_rows(self, rows: list[Refusal], numbers: dict[str, str]) -> None:
        self.beginResetModel()  # a handful of rows, re-read as a whole when one changes
        self._rows, self._numbers = rows, numbers
        self.endResetModel()

    def refusal(self, row: int) -> Refusal | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(HEADERS)
        ):
            return HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = self.refusal(index.row()) if index.isValid() else None
        if r is None or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        column = index.column()
        if column == 0:
            text = self._numbers.get(r.ticket_id or "", "—")
        elif column == 1:
            text = r.what  # the mutation's declared wording
        elif column == 2:
            text = self._explainer.title(r)
        else:
            text = _when(r.created_at)
        if role == Qt.ItemDataRole.ToolTipRole:
            # Tooltips guess rich text: escape what came from the server or a customer.
            return html.escape(text)
        return text


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%d %b %H:%M")


class RefusalsDialog(QDialog):
    """The list of refusals with Open ticket, Copy text and Discard.

    Signals: ``openTicket(str)``.
    """

    openTicket = Signal(str)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.setWindowTitle("Changes the server refused")
        self.setAccessibleName("Changes the server refused")
        self.resize(760, 360)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "These changes of yours were not saved. Open the ticket to send them anyway or "
            "edit them, copy what you wrote, or discard them."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = RefusalsModel(Explainer(bridge.agent_name, bridge.agent_id, {}), self)
        self.table = QTableView(self)
        self.table.setAccessibleName("Refused changes")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(lambda _i: self.open_current())
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(self)
        self.open_button = QPushButton("&Open ticket", self)
        self.copy_button = QPushButton("&Copy text", self)
        self.discard_button = QPushButton("&Discard", self)
        for button, role in (
            (self.open_button, QDialogButtonBox.ButtonRole.ActionRole),
            (self.copy_button, QDialogButtonBox.ButtonRole.ActionRole),
            (self.discard_button, QDialogButtonBox.ButtonRole.DestructiveRole),
        ):
            button.setAccessibleName(button.text().replace("&", ""))
            buttons.addButton(button, role)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        self.open_button.clicked.connect(self.open_current)
        self.copy_button.clicked.connect(self.copy_current)
        self.discard_button.clicked.connect(self.discard_current)
        layout.addWidget(buttons)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        bridge.entitiesChanged.connect(self._changed)
        bridge.refused.connect(lambda _r: self.reload())

    def current(self) -> Refusal | None:
        return self.model.refusal(self.table.currentIndex().row())

    def reload(self) -> None:
        self._bridge.run(self._read())

    async def _read(self) -> None:
        rows = await self._bridge.conversations.refusals()
        ids = [r.ticket_id for r in rows if r.ticket_id]
        found = await self._bridge.tickets.ticket_rows(ids) if ids else {}
        numbers = {
            tid: (f"#{t.number} {t.subject}" if t.number is not None else t.subject)
            for tid, t in found.items()
        }
        self.model.set_rows(rows, numbers)
        if rows:
            self.table.selectRow(0)
        self._update_buttons()

    def _changed(self, notice: ChangeNotice) -> None:
        if "refusal" in notice.entities and self.isVisible():
            self.reload()

    def _update_buttons(self) -> None:
        r = self.current()
        self.open_button.setEnabled(r is not None and r.ticket_id is not None)
        self.copy_button.setEnabled(r is not None and bool(written_text(r)))
        self.discard_button.setEnabled(r is not None)

    def open_current(self) -> None:
        r = self.current()
        if r is not None and r.ticket_id:
            self.openTicket.emit(r.ticket_id)
            self.accept()

    def copy_current(self) -> None:
        r = self.current()
        if r is not None:
            QGuiApplication.clipboard().setText(written_text(r))

    def discard_current(self) -> None:
        r = self.current()
        if r is None:
            return
        if written_text(r):
            answer = QMessageBox.question(
                self,
                "Discard",
                "Discard this change and the text you wrote in it? It cannot be undone.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._bridge.run(self._bridge.engine.dismiss_refusal(r.mutation_id))


class RefusalsButton(QToolButton):
    """ "N refused" in the status bar, hidden while there are none; click to review."""

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.count = 0
        theme.set_icon(self, "warning")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setAutoRaise(True)
        self.setAccessibleName("Refused changes to review")
        self.setToolTip("Changes of yours the server refused: click to review them")
        self.hide()
        bridge.refused.connect(lambda _r: self.recount())
        bridge.entitiesChanged.connect(self._changed)

    def _changed(self, notice: ChangeNotice) -> None:
        if "refusal" in notice.entities:
            self.recount()

    def recount(self) -> None:
        self._bridge.run(self._recount())

    async def _recount(self) -> None:
        self.count = len(await self._bridge.conversations.refusals())
        self.setText(f"{self.count} refused")
        self.setVisible(self.count > 0)
