"""A field that finds a customer as the agent types: their name, email address, organization
or phone number in any format ("020 7946 0018", "+44 20 7946 0018", "7946 0018").

Suggestions come from the whole cache (every customer is kept, ``bridge.finder.find``), so
it works offline and stays quick with 50,000 customers.  Up/Down move through them, Enter
(or a click) chooses one, Escape closes them.  The last suggestion is always “Create customer
“…””: it opens the customer editor prefilled from what was typed — an email address as the
email, a number as the phone, anything else as the name — and chooses the new customer once
it is saved.

The API is small, for the new-ticket form, customer merge and the phone desk:
``CustomerPicker(bridge, parent)``, the ``customer`` chosen (a ``CustomerMatch`` or None),
``set_customer(match_or_None)``, ``search(text)``, and the ``customerChosen(object)`` signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QLineEdit,
    QToolButton,
    QWidget,
)

from app import phones
from app.sync.desk_types import CustomerForm, CustomerMatch
from app.ui import theme
from app.ui.bridge import Bridge
from app.ui.customer.editor import CustomerEditor
from app.ui.keyed_list import KeyedListModel

SEARCH_AFTER_MS = 120  # one read per pause in typing, not per key
SUGGESTIONS = 8
_LETTERS = re.compile(r"[^\W\d_]")
AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class CreateRow:
    """The last suggestion: "Create customer “…”" from what was typed."""

    typed: str


Suggestion = CustomerMatch | CreateRow


def customer_line(match: CustomerMatch, region: str = phones.DEFAULT_REGION) -> str:
    """One line for a customer: name, organization, and how they matched or can be reached."""
    parts = [match.name]
    if match.organization:
        parts.append(match.organization)
    reach = match.matched if match.matched != match.name else ""
    if reach.startswith("+"):
        reach = phones.display(reach, region)
    if not reach or reach == match.organization:
        reach = match.emails[0] if match.emails else ""
        if not reach and match.phones:
            reach = phones.display(match.phones[0], region)
    if reach:
        parts.append(reach)
    return "  ·  ".join(parts)


def prefill_of(text: str) -> dict[str, str]:
    """What "Create customer" puts in the editor: an address as the email, a number as the
    phone, anything else as the name."""
    text = text.strip()
    if "@" in text:
        return {"email": text}
    number = text[4:] if text[:4].lower() == "tel:" else text
    if any(ch.isdigit() for ch in number) and not _LETTERS.search(number):
        return {"phone": text}
    return {"name": text}


class SuggestionModel(KeyedListModel[Suggestion]):
    """The customers found, then "Create customer “…”"."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(lambda s: s.id if isinstance(s, CustomerMatch) else "", parent)
        self.typed = ""
        self.region = phones.DEFAULT_REGION

    def row_data(self, row: Suggestion, role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if isinstance(row, CreateRow):
                return f"Create customer “{row.typed.strip()}”…"
            return customer_line(row, self.region)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            if isinstance(row, CreateRow):
                return f"Create a new customer from {row.typed.strip()}"
            return customer_line(row, self.region).replace("  ·  ", ", ")
        if role == Qt.ItemDataRole.DecorationRole:
            # Every row has an icon, so every row is as tall and the list shows them all.
            if isinstance(row, CreateRow):
                return theme.icon("add")
            if row.matched.startswith("+"):
                return theme.channel_icon("phone")
            if "@" in row.matched:
                return theme.channel_icon("email")
            return theme.channel_icon("walk_in")
        return None


class CustomerPicker(QWidget):
    """Find and choose a customer; see the module's description.

    Signals:
        customerChosen(object): a ``CustomerMatch`` was chosen, or None (the field cleared).
    """

    customerChosen = Signal(object)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._customer: CustomerMatch | None = None
        self._generation = 0
        self._showing_choice = False
        self.editor: CustomerEditor | None = None  # the last "Create customer" editor
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.line = QLineEdit()
        self.line.setAccessibleName("Customer")
        self.line.setPlaceholderText("Find by name, email, organization or phone…")
        self.line.setClearButtonEnabled(True)
        layout.addWidget(self.line, 1)
        self.new_button = QToolButton()
        self.new_button.setIcon(theme.icon("add"))
        self.new_button.setToolTip("Create a new customer")
        self.new_button.setAccessibleName("Create a new customer")
        layout.addWidget(self.new_button)
        self.setFocusProxy(self.line)

        self.model = SuggestionModel(self)
        self.completer = QCompleter(self.model, self)
        self.completer.setWidget(self.line)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setMaxVisibleItems(SUGGESTIONS + 1)
        self.completer.activated[QModelIndex].connect(self._activated)  # type: ignore[index]

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_AFTER_MS)
        self._timer.timeout.connect(lambda: self.search(self.line.text()))
        self.line.textEdited.connect(self._typed)
        self.line.textChanged.connect(self._text_changed)
        self.new_button.clicked.connect(lambda: self.create_customer(self.line.text()))
        bridge.run(bridge.finder.phone_region(), on_result=self._region)

    # ---- public --------------------------------------------------------------------------

    @property
    def customer(self) -> CustomerMatch | None:
        return self._customer

    def set_customer(self, match: CustomerMatch | None) -> None:
        """Show ``match`` as chosen (None: an empty field), and say so."""
        self._customer = match
        self._showing_choice = True
        self.line.setText("" if match is None else customer_line(match, self.model.region))
        self.line.setCursorPosition(0)
        self._showing_choice = False
        self._popup().hide()
        self.customerChosen.emit(match)

    def choose_customer_id(self, customer_id: str) -> None:
        """Choose a customer by id (read from the cache), e.g. one just created."""
        self._bridge.run(self._bridge.finder.form(customer_id), on_result=self._chosen_form)

    def search(self, text: str) -> None:
        """Find customers for ``text`` and show the suggestions (the last: create one)."""
        self._generation += 1
        generation = self._generation
        typed = text

        def found(matches: tuple[CustomerMatch, ...]) -> None:
            if generation != self._generation:
                return  # the agent typed on: a newer search answers
            self.model.typed = typed
            rows: list[Suggestion] = [*matches, CreateRow(typed)]
            self.model.set_rows(rows)
            if self.line.hasFocus() or self.isVisible():
                self.completer.complete()
                self._popup().setCurrentIndex(self.model.index(0, 0))

        if not typed.strip():
            self.model.set_rows(())
            self._popup().hide()
            return
        self._bridge.run(self._bridge.finder.find(typed, SUGGESTIONS), on_result=found)

    def choose_row(self, row: int) -> None:
        """Choose the suggestion at ``row`` (what Enter does on it)."""
        self._activated(self.model.index(row, 0))

    def create_customer(self, typed: str = "") -> CustomerEditor:
        """Open the customer editor prefilled from ``typed``; chooses the customer once saved."""
        editor = CustomerEditor.for_new(self._bridge, self.window(), **prefill_of(typed))
        editor.saved.connect(self.choose_customer_id)
        editor.openCustomer.connect(self.choose_customer_id)  # "already belongs to X": X
        self.editor = editor
        editor.open()
        return editor

    # ---- internals -----------------------------------------------------------------------

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # a QCompleter always has one
        return popup

    def suggestions_shown(self) -> bool:
        return self._popup().isVisible()

    def _region(self, region: str) -> None:
        self.model.region = region

    def _typed(self, _text: str) -> None:
        self._timer.start()

    def _text_changed(self, text: str) -> None:
        if self._showing_choice or self._customer is None:
            return
        # Typing over a chosen customer starts a new search: the choice no longer holds.
        self._customer = None
        self.customerChosen.emit(None)
        if not text:
            self._popup().hide()

    def _activated(self, index: AnyIndex) -> None:
        if not index.isValid():
            return
        row = self.model.row_at(index)
        if isinstance(row, CreateRow):
            self._popup().hide()
            self.create_customer(row.typed)
        elif row is not None:
            self.set_customer(row)

    def _chosen_form(self, form: CustomerForm | None) -> None:
        if form is None:
            return
        self.set_customer(
            CustomerMatch(
                id=form.id,
                name=form.name,
                organization=form.organization,
                emails=tuple(i.value for i in form.identities if i.kind == "email"),
                phones=tuple(i.value for i in form.identities if i.kind == "phone"),
                matched=form.name,
            )
        )
