"""Create or edit a customer: name, ways to reach them, organization, language, time zone,
tier and notes.

Open it with ``CustomerEditor.for_new(bridge, parent, name=..., email=..., phone=...)`` (the
picker's "Create customer", the phone desk's unknown caller, File ▸ New customer) or
``CustomerEditor.for_customer(bridge, parent, customer_id)`` (the customer panel's Edit), then
``open()`` it (non-blocking: no nested event loop under qasync).  ``saved(customer_id)`` is
emitted once the change is queued: the cache shows it at once, offline too (the mutations'
optimistic applies), and the server's answer follows.

Every way to reach the customer is checked as it is typed, in plain words: an email address
for its shape and whether another customer already has it (saying who, with a button to open
them: an address has one owner); a phone number with `app.phones`, in the workspace's region,
showing the number as it will be stored.  Phone numbers may be shared (a family landline), so
a number another customer has is only mentioned.  The server checks all of it again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QLocale, QSize, Qt, QTimer, QTimeZone, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import emails, phones
from app.models.enums import IdentityKind, Tier
from app.sync.desk_types import CustomerForm, OrganizationItem
from app.sync.protocol import ProtocolError
from app.ui import theme
from app.ui.bridge import Bridge

NAME_MAX = 200
NOTES_MAX = 200_000
VALUE_MAX = 320
IDENTITIES_MAX = 50
CHECK_AFTER_MS = 250  # who else has this address: asked once the agent pauses typing

KIND_LABELS = {
    IdentityKind.EMAIL: "Email",
    IdentityKind.PHONE: "Phone",
    IdentityKind.SOCIAL: "Social",
    IdentityKind.CHAT: "Chat",
}
KIND_HINTS = {
    IdentityKind.EMAIL: "name@example.com",
    IdentityKind.PHONE: "as the caller says it, e.g. 020 7946 0018 or +1 415 555 0132",
    IdentityKind.SOCIAL: "@handle",
    IdentityKind.CHAT: "chat visitor id",
}
TIER_TEXT = {Tier.STANDARD: "Standard", Tier.SILVER: "Silver", Tier.GOLD: "Gold", Tier.VIP: "VIP"}
# Offered first; any other language code may be typed.
COMMON_LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "nl", "pl", "sv", "ja", "zh", "ar")


def language_text(code: str) -> str:
    locale = QLocale(code)
    if not code or locale.language() == QLocale.Language.C:
        return code
    return f"{QLocale.languageToString(locale.language())} ({code})"


def time_zones() -> list[str]:
    """IANA time-zone names (the OS's database, through Qt), sorted."""
    return sorted(bytes(z.data()).decode() for z in QTimeZone.availableTimeZoneIds())


@dataclass(frozen=True)
class Prefill:
    """What a new customer starts with (the picker's typed text, an unknown caller)."""

    name: str = ""
    email: str = ""
    phone: str = ""


class IdentityRow(QWidget):
    """One way to reach the customer: kind, value, remove; and under it what the desk makes
    of the value ("Saved as +44 20 7946 0018", "Not an email address: ...")."""

    changed = Signal()
    removeRequested = Signal(object)  # this row
    openCustomer = Signal(str)

    def __init__(self, kind: IdentityKind, value: str = "", identity_id: str | None = None):
        super().__init__()
        self.identity_id = identity_id or str(uuid.uuid4())
        self.problem: str | None = None
        self.owner: tuple[str, str] | None = None  # another customer with this address
        self._stored: str | None = None
        self._checked = ""  # what the check said of the value, before who else has it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 2)
        layout.setSpacing(1)
        line = QHBoxLayout()
        self.kind_combo = QComboBox()
        self.kind_combo.setAccessibleName("Kind")
        for k, text in KIND_LABELS.items():
            self.kind_combo.addItem(theme.channel_icon(k.value), text, k.value)
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind.value))
        self.value_edit = QLineEdit(value)
        self.value_edit.setMaxLength(VALUE_MAX)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip("Remove this way to reach them")
        self.remove_button.setAccessibleName("Remove")
        line.addWidget(self.kind_combo)
        line.addWidget(self.value_edit, 1)
        line.addWidget(self.remove_button)
        layout.addLayout(line)
        note_line = QHBoxLayout()
        note_line.setContentsMargins(4, 0, 0, 0)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)  # the value is the agent's text
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Check")
        self.open_owner = QPushButton()
        self.open_owner.setAccessibleName("Open the customer who has it")
        self.open_owner.hide()
        note_line.addWidget(self.note, 1)
        note_line.addWidget(self.open_owner)
        layout.addLayout(note_line)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self._edited())
        self.value_edit.textChanged.connect(lambda _t: self._edited())
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self))
        self.open_owner.clicked.connect(self._open_owner)
        self._region = phones.DEFAULT_REGION
        self._update_hint()

    @property
    def kind(self) -> IdentityKind:
        return IdentityKind(str(self.kind_combo.currentData()))

    @property
    def value(self) -> str:
        return self.value_edit.text()

    @property
    def stored(self) -> str | None:
        """The value as it will be stored (None: empty or wrong)."""
        return self._stored

    def set_region(self, region: str) -> None:
        self._region = region
        self.check()

    def _edited(self) -> None:
        self._update_hint()
        self.check()
        self.changed.emit()

    def _update_hint(self) -> None:
        kind = self.kind
        self.value_edit.setPlaceholderText(KIND_HINTS[kind])
        self.value_edit.setAccessibleName(f"{KIND_LABELS[kind]} of the customer")

    def check(self) -> None:
        """Check the value now (without asking who else has it: see ``set_owner``)."""
        text = self.value.strip()
        self.owner = None
        self.open_owner.hide()
        if not text:
            self._stored, self.problem = None, None
            self._say("", ok=True)
            return
        try:
            if self.kind == IdentityKind.PHONE:
                stored = phones.to_e164(text, self._region)
                shown = phones.display(stored, self._region)
                said = f"Saved as {stored}" + (f"  ({shown})" if shown != stored else "")
            elif self.kind == IdentityKind.EMAIL:
                stored = emails.normal_email(text)
                said = "" if stored == text else f"Saved as {stored}"
            else:
                stored, said = text, ""
        except ValueError as exc:
            self._stored, self.problem = None, str(exc)
            self._say(str(exc), ok=False)
            return
        self._stored, self.problem = stored, None
        self._checked = said
        self._say(said, ok=True)

    def set_owner(self, owner: tuple[str, str] | None, *, shared: bool = False) -> None:
        """Another customer has this value: an address or handle cannot be saved then (it
        has one owner); a phone number may be shared, so that is only said."""
        if self.problem is not None:
            return
        if owner is None:
            self.owner = None
            self.open_owner.hide()
            self._say(self._checked, ok=True)
            return
        if shared:
            also = f"{owner[1]} has this number too"
            self._say(f"{self._checked}  ·  {also}" if self._checked else also, ok=True)
            return
        self.owner = owner
        word = "email address" if self.kind == IdentityKind.EMAIL else "handle"
        self._say(f"This {word} already belongs to {owner[1]}.", ok=False)
        self.open_owner.setText(f"Open {owner[1]}")
        self.open_owner.show()

    def _say(self, text: str, ok: bool) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
        color = theme.colors().muted_text if ok else theme.colors().failed
        self.note.setStyleSheet(f"color: {color.name()}")

    def _open_owner(self) -> None:
        if self.owner is not None:
            self.openCustomer.emit(self.owner[0])


class CustomerEditor(QDialog):
    """Edits one customer (``customer_id``) or makes a new one (None, with a ``Prefill``).

    Signals:
        saved(str): the customer's change is queued (the customer id).
        openCustomer(str): the agent asked to open the customer who already has an address.
    """

    saved = Signal(str)
    openCustomer = Signal(str)

    def __init__(
        self,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        customer_id: str | None = None,
        prefill: Prefill | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.customer_id = customer_id
        self.form: CustomerForm | None = None  # as read, when editing
        self.organizations: tuple[OrganizationItem, ...] = ()
        self.region = phones.DEFAULT_REGION
        self.ready = False  # what the form needs has been read
        self.rows: list[IdentityRow] = []
        self.setWindowTitle("Edit customer" if customer_id else "New customer")
        self.setAccessibleName(self.windowTitle())
        self.setMinimumWidth(520)
        self.resize(600, 620)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(NAME_MAX)
        self.name_edit.setAccessibleName("Name")
        self.name_edit.setPlaceholderText("First and last name")
        form.addRow("&Name", self.name_edit)

        self.organization_combo = QComboBox()
        self.organization_combo.setEditable(True)
        self.organization_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.organization_combo.setAccessibleName("Organization")
        line = self.organization_combo.lineEdit()
        assert line is not None
        line.setPlaceholderText("None — or choose one, or type a new one")
        completer = self.organization_combo.completer()
        if completer is not None:
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.organization_note = QLabel()
        self.organization_note.setTextFormat(Qt.TextFormat.PlainText)
        self.organization_note.hide()
        org_box = QVBoxLayout()
        org_box.setSpacing(1)
        org_box.addWidget(self.organization_combo)
        org_box.addWidget(self.organization_note)
        org_label = QLabel("&Organization")
        org_label.setBuddy(self.organization_combo)
        form.addRow(org_label, org_box)

        self.tier_combo = QComboBox()
        self.tier_combo.setAccessibleName("Tier")
        for tier, text in TIER_TEXT.items():
            self.tier_combo.addItem(text, tier.value)
        self.language_combo = QComboBox()
        self.language_combo.setEditable(True)
        self.language_combo.setAccessibleName("Language")
        for code in COMMON_LANGUAGES:
            self.language_combo.addItem(language_text(code), code)
        self.timezone_edit = QLineEdit()
        self.timezone_edit.setAccessibleName("Time zone")
        self.timezone_edit.setPlaceholderText("e.g. Europe/London — type a city")
        self.zones = time_zones()
        zone_completer = QCompleter(self.zones, self.timezone_edit)
        zone_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        zone_completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.timezone_edit.setCompleter(zone_completer)
        profile = QHBoxLayout()
        profile.addWidget(self.tier_combo)
        lang_label = QLabel("&Language")
        lang_label.setBuddy(self.language_combo)
        profile.addWidget(lang_label)
        profile.addWidget(self.language_combo, 1)
        tier_label = QLabel("&Tier")
        tier_label.setBuddy(self.tier_combo)
        form.addRow(tier_label, profile)
        form.addRow("Time &zone", self.timezone_edit)
        layout.addLayout(form)

        reach_label = QLabel("<b>Ways to reach them</b>")
        layout.addWidget(reach_label)
        self.rows_box = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_box)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(2)
        self.rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_box)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumHeight(110)
        layout.addWidget(scroll, 2)
        adders = QHBoxLayout()
        self.add_email = QPushButton(theme.channel_icon("email"), "Add &email")
        self.add_phone = QPushButton(theme.channel_icon("phone"), "Add &phone")
        self.add_handle = QPushButton(theme.channel_icon("social"), "Add &handle")
        for button, kind in (
            (self.add_email, IdentityKind.EMAIL),
            (self.add_phone, IdentityKind.PHONE),
            (self.add_handle, IdentityKind.SOCIAL),
        ):
            button.clicked.connect(lambda _c=False, k=kind: self.add_identity(k, focus=True))
            adders.addWidget(button)
        adders.addStretch(1)
        layout.addLayout(adders)

        notes_label = QLabel("No&tes")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setAccessibleName("Notes")
        self.notes_edit.setPlaceholderText("What colleagues should know (visible to agents only)")
        self.notes_edit.setTabChangesFocus(True)
        notes_label.setBuddy(self.notes_edit)
        layout.addWidget(notes_label)
        layout.addWidget(self.notes_edit, 1)

        self.error_label = QLabel()
        self.error_label.setAccessibleName("Problem")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.colors().failed.name()}")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.save)

        self._owner_timer = QTimer(self)
        self._owner_timer.setSingleShot(True)
        self._owner_timer.setInterval(CHECK_AFTER_MS)
        self._owner_timer.timeout.connect(self._check_owners)
        self.organization_combo.editTextChanged.connect(lambda _t: self._organization_typed())
        self.name_edit.textChanged.connect(lambda _t: self.error_label.hide())
        self.timezone_edit.setText("UTC")
        self.language_combo.setCurrentIndex(0)

        start = prefill or Prefill()
        if customer_id is None:
            self.name_edit.setText(start.name)
            self.add_identity(IdentityKind.EMAIL, start.email)
            self.add_identity(IdentityKind.PHONE, start.phone)
            self.timezone_edit.setText(self._agent_zone())
        self.save_button.setEnabled(False)  # until the organizations and region are read
        self.name_edit.setFocus()
        bridge.run(self._load(), on_result=self._loaded, on_error=self._load_failed)

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def for_new(
        cls,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        name: str = "",
        email: str = "",
        phone: str = "",
    ) -> CustomerEditor:
        """A new customer, prefilled (the phone desk passes an unknown caller's number)."""
        return cls(bridge, parent, prefill=Prefill(name=name, email=email, phone=phone))

    @classmethod
    def for_customer(
        cls, bridge: Bridge, parent: QWidget | None, customer_id: str
    ) -> CustomerEditor:
        return cls(bridge, parent, customer_id=customer_id)

    def sizeHint(self) -> QSize:
        return QSize(600, 620)

    def _agent_zone(self) -> str:
        me = self._bridge.directory.me
        return me.timezone if me is not None and me.timezone else "UTC"

    async def _load(self) -> tuple[str, tuple[OrganizationItem, ...], CustomerForm | None]:
        finder = self._bridge.finder
        region = await finder.phone_region()
        organizations = await finder.organizations()
        form = await finder.form(self.customer_id) if self.customer_id else None
        return region, organizations, form

    def _loaded(self, got: tuple[str, tuple[OrganizationItem, ...], CustomerForm | None]) -> None:
        region, organizations, form = got
        self.region = region
        self.organizations = organizations
        typed = self.organization_combo.currentText()
        self.organization_combo.blockSignals(True)
        self.organization_combo.clear()
        for org in organizations:
            self.organization_combo.addItem(org.name, org.id)
        self.organization_combo.setCurrentIndex(-1)
        self.organization_combo.setEditText(typed)
        self.organization_combo.blockSignals(False)
        if self.customer_id is not None:
            if form is None:
                self._show_problem("This customer is not on this workstation.")
                return
            self._fill(form)
        for row in self.rows:
            row.set_region(region)
        self.ready = True
        self.save_button.setEnabled(True)
        self._check_owners()

    def _load_failed(self, exc: BaseException) -> None:
        self._bridge.taskFailed.emit(exc)

    def _fill(self, form: CustomerForm) -> None:
        self.form = form
        self.setWindowTitle(f"Edit customer — {form.name}")
        self.name_edit.setText(form.name)
        self.organization_combo.setEditText(form.organization or "")
        tier = self.tier_combo.findData(form.tier)
        self.tier_combo.setCurrentIndex(max(tier, 0))
        language = self.language_combo.findData(form.language)
        if language < 0:
            self.language_combo.addItem(language_text(form.language), form.language)
            language = self.language_combo.count() - 1
        self.language_combo.setCurrentIndex(language)
        self.timezone_edit.setText(form.timezone)
        self.notes_edit.setPlainText(form.notes)
        for row in list(self.rows):
            self._remove(row)
        for identity in form.identities:
            self.add_identity(IdentityKind(identity.kind), identity.value, identity.id)

    # ---- identities ----------------------------------------------------------------------

    def add_identity(
        self,
        kind: IdentityKind,
        value: str = "",
        identity_id: str | None = None,
        *,
        focus: bool = False,
    ) -> IdentityRow:
        row = IdentityRow(kind, value, identity_id)
        row.set_region(self.region)
        row.changed.connect(self._identity_changed)
        row.removeRequested.connect(self._remove)
        row.openCustomer.connect(self._open_owner)
        self.rows.append(row)
        self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
        if focus:
            row.value_edit.setFocus()
        return row

    def _remove(self, row: object) -> None:
        if isinstance(row, IdentityRow) and row in self.rows:
            self.rows.remove(row)
            row.hide()
            row.deleteLater()
            self.error_label.hide()

    def _identity_changed(self) -> None:
        self.error_label.hide()
        self._owner_timer.start()

    def _check_owners(self) -> None:
        """Ask the cache who else has each address, number or handle (once typing pauses)."""
        wanted = [(row, row.kind, row.stored) for row in self.rows if row.stored]
        if not wanted:
            return

        async def owners() -> list[tuple[IdentityRow, tuple[str, str] | None, bool]]:
            out = []
            for row, kind, stored in wanted:
                assert stored is not None
                if kind == IdentityKind.PHONE:
                    matches = await self._bridge.finder.with_phone(stored)
                    other = next((m for m in matches if m.id != self.customer_id), None)
                    out.append((row, None if other is None else (other.id, other.name), True))
                else:
                    owner = await self._bridge.finder.owner(kind.value, stored, self.customer_id)
                    out.append((row, owner, False))
            return out

        asked = {id(row): stored for row, _kind, stored in wanted}

        def show(found: list[tuple[IdentityRow, tuple[str, str] | None, bool]]) -> None:
            for row, owner, shared in found:
                # The row may have changed (or gone) while the cache was asked.
                if row in self.rows and row.stored is not None and row.stored == asked[id(row)]:
                    row.set_owner(owner, shared=shared)

        self._bridge.run(owners(), on_result=show)

    def _open_owner(self, customer_id: str) -> None:
        self.openCustomer.emit(customer_id)
        self.reject()

    # ---- organization --------------------------------------------------------------------

    def _organization(self) -> tuple[str | None, str | None]:
        """(existing id, None), (None, new name) or (None, None) for none."""
        text = " ".join(self.organization_combo.currentText().split())
        if not text:
            return None, None
        for org in self.organizations:
            if org.name.casefold() == text.casefold():
                return org.id, None
        return None, text

    def _organization_typed(self) -> None:
        _existing, new = self._organization()
        self.organization_note.setVisible(new is not None)
        if new is not None:
            self.organization_note.setText(f"A new organization “{new}” will be added.")
            self.organization_note.setStyleSheet(f"color: {theme.colors().muted_text.name()}")

    # ---- saving --------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What keeps the customer from being saved, in plain words (empty: nothing)."""
        out = []
        if not self.name_edit.text().strip():
            out.append("Give the customer a name.")
        for row in self.rows:
            if row.problem:
                out.append(row.problem + ".")
            elif row.owner is not None:
                out.append(f"{row.value.strip()} already belongs to {row.owner[1]}.")
        zone = self.timezone_edit.text().strip()
        if zone and zone not in self.zones:
            out.append(
                f"“{zone}” is not a time zone; choose one from the list, e.g. Europe/London."
            )
        if len(self.notes_edit.toPlainText()) > NOTES_MAX:
            out.append(f"The notes are longer than {NOTES_MAX:,} characters.")
        if len([r for r in self.rows if r.stored]) > IDENTITIES_MAX:
            out.append(f"At most {IDENTITIES_MAX} ways to reach one customer.")
        return out

    def identities(self) -> list[dict[str, str]]:
        """The ways to reach them as they will be stored, each once, in the form's order."""
        out: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for row in self.rows:
            if row.stored and (row.kind.value, row.stored) not in seen:
                seen.add((row.kind.value, row.stored))
                out.append({"id": row.identity_id, "kind": row.kind.value, "value": row.stored})
        return out

    def _language(self) -> str:
        data = self.language_combo.currentData()
        text = self.language_combo.currentText().strip()
        if isinstance(data, str) and language_text(data) == text:
            return data
        if "(" in text and text.endswith(")"):
            return text.rsplit("(", 1)[1][:-1].strip()[:16]
        return text[:16] or "en"

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name_edit.text().strip(),
            "tier": str(self.tier_combo.currentData()),
            "language": self._language(),
            "timezone": self.timezone_edit.text().strip() or "UTC",
            "notes": self.notes_edit.toPlainText(),
            "identities": self.identities(),
        }

    def save(self) -> None:
        """Queue the change (Save); closes when it is queued, or says what is wrong."""
        if not self.ready:
            return
        problems = self.problems()
        if problems:
            self._show_problem(" ".join(problems))
            return
        fields = self.fields()
        existing, new_org = self._organization()
        org_id = existing
        steps: list[tuple[str, dict[str, Any]]] = []
        if new_org is not None:
            org_id = str(uuid.uuid4())
            steps.append(
                ("organization.create", {"organization_id": org_id, "name": new_org[:200]})
            )
        fields["organization_id"] = org_id
        form = self.form
        if form is None:
            customer_id = str(uuid.uuid4())
            steps.append(("customer.create", {"customer_id": customer_id, "customer": fields}))
        else:
            customer_id = form.id
            old: dict[str, Any] = {
                "name": form.name,
                "tier": form.tier,
                "language": form.language,
                "timezone": form.timezone,
                "notes": form.notes,
                "organization_id": form.organization_id,
                "identities": [
                    {"id": i.id, "kind": i.kind, "value": i.value} for i in form.identities
                ],
            }
            changes = {k: v for k, v in fields.items() if old.get(k) != v}
            if "identities" in changes and _pairs(changes["identities"]) == _pairs(
                old["identities"]
            ):
                del changes["identities"]  # only their order differs
            if not changes:
                self.accept()  # nothing changed: nothing to queue
                return
            steps.append(("customer.update", {"customer_id": customer_id, "changes": changes}))
        self.buttons.setEnabled(False)

        async def queue() -> None:
            for name, args in steps:
                await self._bridge.engine.mutate(name, args)

        def queued(_result: object) -> None:
            self.buttons.setEnabled(True)
            self.customer_id = customer_id
            self.saved.emit(customer_id)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.buttons.setEnabled(True)
            if isinstance(exc, ProtocolError):  # what the protocol's limits refuse
                self._show_problem(f"This cannot be saved: {exc}")
            else:
                self._bridge.taskFailed.emit(exc)

        self._bridge.run(queue(), on_result=queued, on_error=failed)

    def _show_problem(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()


def _pairs(identities: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((i["kind"], i["value"]) for i in identities)
