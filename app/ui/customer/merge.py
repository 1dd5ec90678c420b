"""Merge two customers, from the customer-360 panel: "Merge with another customer…".

The agent finds the other record (by name, email or phone, in this workstation's cache),
sees both side by side with which one is kept and what moves, and confirms.  The merge is a
change like any other: queued while offline, made by the server, and every workstation's
panel follows to the record that was kept.

Finding the other customer goes through `CustomerFinder`, a narrow interface: the desk's
shared customer picker can stand in for `CacheCustomerFinder` without touching the dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk_types import CustomerCard
from app.ui.bridge import Bridge

SEARCH_AFTER_MS = 150
IDENTITY_NAMES = {"email": "email address", "phone": "phone number"}


@dataclass(frozen=True)
class CustomerChoice:
    """One customer a search found: their id and a line that tells them apart."""

    customer_id: str
    label: str


class CustomerFinder(Protocol):
    """Finds customers by name, email or phone (the merge dialog's only need)."""

    async def find(self, query: str, limit: int = 20) -> list[CustomerChoice]: ...


class CacheCustomerFinder:
    """Finds customers in this workstation's cache through the desk's search (merged records
    are not found: they are shown as the one kept)."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    async def find(self, query: str, limit: int = 20) -> list[CustomerChoice]:
        results = await self._bridge.search.everywhere(query, limit=limit * 4)
        out: list[CustomerChoice] = []
        for hit in results.hits:
            if hit.kind != "customer" or hit.customer_id is None:
                continue
            snippet = hit.snippet.replace("\x02", "").replace("\x03", "").strip()
            label = hit.title if not snippet or snippet == hit.title else f"{hit.title} — {snippet}"
            out.append(CustomerChoice(hit.customer_id, label))
        return out[:limit]


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _identity_counts(card: CustomerCard) -> str:
    counts: dict[str, int] = {}
    for kind, _value in card.identities:
        counts[kind] = counts.get(kind, 0) + 1
    parts = [
        _count(n, IDENTITY_NAMES.get(kind, f"{kind} handle")) for kind, n in sorted(counts.items())
    ]
    return ", ".join(parts) if parts else "no ways to reach them"


def _tickets(card: CustomerCard) -> int:
    return len(card.open_tickets) + len(card.past_tickets)


def what_moves(merged: CustomerCard, kept: CustomerCard) -> str:
    """The plain-words summary of a merge of ``merged`` into ``kept``."""
    tickets = _tickets(merged)
    lines = [
        f"{kept.name} is kept. {merged.name}'s {_identity_counts(merged)} and "
        f"{_count(tickets, 'ticket')} move to {kept.name}, with every message "
        f"{merged.name} wrote.",
    ]
    if merged.notes.strip():
        lines.append(f"{merged.name}'s notes are added to {kept.name}'s.")
    lines.append(
        f"{merged.name} then stays only as a pointer to {kept.name}: changes made elsewhere "
        "to it are moved over or reported to whoever made them. This cannot be undone."
    )
    return " ".join(lines)


class _Side(QFrame):
    """One customer of the comparison, with the choice to keep it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.keep = QRadioButton("Keep this record", self)
        layout.addWidget(self.keep)
        self.fate = QLabel(self)
        self.fate.setTextFormat(Qt.TextFormat.PlainText)
        self.fate.setAccessibleName("What happens to this record")
        font = self.fate.font()
        font.setBold(True)
        self.fate.setFont(font)
        layout.addWidget(self.fate)
        self.details = QLabel(self)
        self.details.setTextFormat(Qt.TextFormat.PlainText)  # customer data is never markup
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details, 1)

    def show_card(self, card: CustomerCard | None) -> None:
        self.keep.setEnabled(card is not None)
        if card is None:
            self.details.setText("Choose the other customer above.")
            self.setAccessibleName("Other customer: not chosen")
            return
        ways = "\n".join(f"  {value}" for _kind, value in card.identities) or "  —"
        first = card.notes.strip().splitlines()[0] if card.notes.strip() else "No notes"
        notes = first if len(first) <= 80 else first[:79] + "…"
        self.details.setText(
            f"{card.name}\n"
            f"Organization: {card.organization or '—'}\n"
            f"Tier: {card.tier.title()}\n"
            f"Ways to reach:\n{ways}\n"
            f"Tickets: {len(card.open_tickets)} open, {len(card.past_tickets)} past\n"
            f"Notes: {notes}"
        )
        self.setAccessibleName(f"Customer {card.name}")


class CustomerMergeDialog(QDialog):
    """Choose the other customer, compare, confirm.  ``merged(kept_id)`` once queued."""

    merged = Signal(str)

    def __init__(
        self,
        bridge: Bridge,
        current: CustomerCard,
        finder: CustomerFinder | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._finder = finder or CacheCustomerFinder(bridge)
        self.current = current
        self.other: CustomerCard | None = None
        self._query_seq = 0
        self.setWindowTitle(f"Merge {current.name} with another customer")
        self.setAccessibleName("Merge customers")
        self.resize(760, 560)

        layout = QVBoxLayout(self)
        find = QLabel(f"Find the customer who is the same person as {current.name}:", self)
        find.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(find)
        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Name, email address or phone number")
        self.query.setAccessibleName("Find a customer")
        self.query.setClearButtonEnabled(True)
        find.setBuddy(self.query)
        layout.addWidget(self.query)
        self.results = QListWidget(self)
        self.results.setAccessibleName("Customers found")
        self.results.setMaximumHeight(120)
        layout.addWidget(self.results)
        self.hint = QLabel("", self)
        self.hint.setEnabled(False)
        layout.addWidget(self.hint)

        sides = QGridLayout()
        self.left = _Side(self)
        self.right = _Side(self)
        sides.addWidget(self.left, 0, 0)
        sides.addWidget(self.right, 0, 1)
        sides.setColumnStretch(0, 1)
        sides.setColumnStretch(1, 1)
        layout.addLayout(sides, 1)
        self.left.show_card(current)
        self.right.show_card(None)
        self.left.keep.setChecked(True)

        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("What the merge does")
        layout.addWidget(self.summary)

        buttons = QDialogButtonBox(self)
        self.merge_button = QPushButton("Merge", self)
        self.merge_button.setEnabled(False)
        buttons.addButton(self.merge_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.confirm)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_AFTER_MS)
        self._debounce.timeout.connect(self._search)
        self.query.textChanged.connect(lambda _t: self._debounce.start())
        self.query.returnPressed.connect(self._take_first)
        self.results.currentItemChanged.connect(self._chosen)
        self.left.keep.toggled.connect(lambda _on: self._update_summary())
        self.right.keep.toggled.connect(lambda _on: self._update_summary())
        self._update_summary()

    # ---- finding ------------------------------------------------------------------------

    def _search(self) -> None:
        text = self.query.text().strip()
        self._query_seq += 1
        seq = self._query_seq
        if not text:
            self.results.clear()
            self.hint.setText("")
            return

        def found(choices: list[CustomerChoice]) -> None:
            if seq == self._query_seq:
                self.show_choices([c for c in choices if c.customer_id != self.current.id])

        self._bridge.run(self._finder.find(text), on_result=found)

    def show_choices(self, choices: Sequence[CustomerChoice]) -> None:
        self.results.clear()
        for choice in choices:
            item = QListWidgetItem(choice.label)
            item.setData(Qt.ItemDataRole.UserRole, choice.customer_id)
            self.results.addItem(item)
        self.hint.setText("" if choices else "No other customer on this workstation matches.")

    def _take_first(self) -> None:
        if self.results.count() and self.results.currentItem() is None:
            self.results.setCurrentRow(0)
        self.results.setFocus()

    def _chosen(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        customer_id = str(item.data(Qt.ItemDataRole.UserRole))

        def loaded(card: CustomerCard | None) -> None:
            current = self.results.currentItem()
            if current is None or current.data(Qt.ItemDataRole.UserRole) != customer_id:
                return
            if card is not None and card.id == self.current.id:
                card = None  # merged into this very customer already
            self.other = card
            self.right.show_card(card)
            if card is not None and _tickets(card) > _tickets(self.current):
                self.right.keep.setChecked(True)  # the record with more history is kept
            self._update_summary()

        self._bridge.run(self._bridge.customers.customer(customer_id), on_result=loaded)

    # ---- deciding -----------------------------------------------------------------------

    def kept_and_merged(self) -> tuple[CustomerCard, CustomerCard] | None:
        """(the record kept, the record merged into it), once the other one is chosen."""
        if self.other is None:
            return None
        if self.right.keep.isChecked():
            return self.other, self.current
        return self.current, self.other

    def _update_summary(self) -> None:
        pair = self.kept_and_merged()
        self.merge_button.setEnabled(pair is not None)
        if pair is None:
            self.summary.setText("")
            self.left.fate.setText("")
            self.right.fate.setText("")
            return
        kept, merged = pair
        kept_side, merged_side = (
            (self.right, self.left) if self.right.keep.isChecked() else (self.left, self.right)
        )
        kept_side.fate.setText("Kept")
        merged_side.fate.setText(f"Merged into {kept.name}")
        self.summary.setText(what_moves(merged, kept))
        self.merge_button.setText(f"Merge into {kept.name}")

    def confirm(self) -> None:
        pair = self.kept_and_merged()
        if pair is None:
            return
        kept, merged = pair
        args = {"source_id": merged.id, "target_id": kept.id}
        self.merge_button.setEnabled(False)

        def queued(_mutation_id: int) -> None:
            self.merged.emit(kept.id)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.merge_button.setEnabled(True)
            self._bridge.taskFailed.emit(exc)

        self._bridge.run(
            self._bridge.engine.mutate("customer.merge", args), on_result=queued, on_error=failed
        )


def merge_button(
    panel: QWidget, bridge: Bridge, card: Callable[[], CustomerCard | None]
) -> QPushButton:
    """The panel's "Merge…" button: opens the dialog for the card ``card()`` returns."""
    button = QPushButton("Merge…", panel)
    button.setToolTip("Merge with another customer…")
    button.setAccessibleName("Merge with another customer")

    def open_dialog() -> None:
        current = card()
        if current is None:
            return
        dialog = CustomerMergeDialog(bridge, current, parent=panel)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    button.clicked.connect(open_dialog)
    return button
