"""The views panel: the agent's queues with live counts, and the filters they save.

Built-in views come from ``bridge.tickets.builtin_views`` (My open tickets, Unassigned in my
groups, each group's queue, Pending, Recently solved); saved filters are the agent's own,
kept in ``QSettings`` per server and account.  Counts are re-read — all views in one read
transaction — shortly after tickets change, at most a few times a second.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSettings,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.models.enums import Channel, Priority, TicketStatus
from app.sync.desk_types import ViewCount, ViewSpec
from app.sync.notice import ChangeNotice
from app.ui.bridge import Bridge
from app.ui.mentions.panel import MentionsPanel

ViewSpecRole = Qt.ItemDataRole.UserRole + 1
CountRole = Qt.ItemDataRole.UserRole + 2
RECOUNT_AFTER_MS = 150  # a burst of changes costs one recount


class SavedViews:
    """The agent's saved filters, as JSON in ``QSettings`` under one key per account."""

    def __init__(self, settings: QSettings, account_key: str) -> None:
        self._settings = settings
        self._key = f"saved_views/{account_key}"

    def load(self) -> list[ViewSpec]:
        raw = self._settings.value(self._key, "[]")
        try:
            items = json.loads(str(raw))
        except ValueError:
            return []
        specs = []
        fields = {f.name for f in dataclasses.fields(ViewSpec)}
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or "key" not in item or "title" not in item:
                continue
            clean: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in item.items() if k in fields
            }
            clean["saved"] = True
            specs.append(ViewSpec(**clean))
        return specs

    def save(self, specs: list[ViewSpec]) -> None:
        self._settings.setValue(self._key, json.dumps([dataclasses.asdict(s) for s in specs]))


class ViewsModel(QAbstractListModel):
    """One row per view: its title (DisplayRole), spec and ticket count."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._views: list[ViewCount] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._views)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._views):
            return None
        view = self._views[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return view.spec.title
        if role == ViewSpecRole:
            return view.spec
        if role == CountRole:
            return view.count
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return f"{view.spec.title}: {view.count} ticket{'s' if view.count != 1 else ''}"
        return None

    def spec(self, row: int) -> ViewSpec | None:
        return self._views[row].spec if 0 <= row < len(self._views) else None

    def row_of(self, key: str) -> int | None:
        for i, view in enumerate(self._views):
            if view.spec.key == key:
                return i
        return None

    def set_views(self, views: list[ViewCount]) -> None:
        """New counts (same views): ``dataChanged``; other views: rows change precisely."""
        if [v.spec for v in views] == [v.spec for v in self._views]:
            old, self._views = self._views, views
            for i, (before, after) in enumerate(zip(old, views, strict=True)):
                if before.count != after.count:
                    idx = self.index(i)
                    self.dataChanged.emit(idx, idx, [CountRole, Qt.ItemDataRole.ToolTipRole])
            return
        self.beginResetModel()  # the set of views itself changed: a new query
        self._views = views
        self.endResetModel()


class ViewDelegate(QStyledItemDelegate):
    """Paints the title, with the count right-aligned in a small pill."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        count = index.data(CountRole)
        text = str(count) if count is not None else ""
        metrics = option.fontMetrics
        pill_w = metrics.horizontalAdvance(text) + 14 if text else 0
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        full = QStyleOptionViewItem(option)
        self.initStyleOption(full, index)
        # the row's background (selection, hover) across its whole width, then the title
        # left of the pill so a long title elides instead of running under the count
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, full, painter, widget)
        narrow = QStyleOptionViewItem(full)
        narrow.rect = option.rect.adjusted(0, 0, -pill_w - 6, 0)
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, narrow, painter, widget)
        if text:
            painter.save()
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            palette = option.palette
            rect = QRect(
                option.rect.right() - pill_w - 4,
                option.rect.center().y() - metrics.height() // 2,
                pill_w,
                metrics.height(),
            )
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            background = palette.color(
                QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Mid
            )
            background.setAlpha(60 if selected else 70)
            painter.setBrush(background)
            painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
            painter.setPen(
                palette.color(
                    QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
                )
            )
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 40, max(size.height(), option.fontMetrics.height() + 12))


class ViewsPanel(QWidget):
    """The list of views; choosing one shows it in the ticket list.

    Signals: ``viewChosen(object)`` (a ViewSpec).
    """

    viewChosen = Signal(object)

    def __init__(self, bridge: Bridge, saved: SavedViews, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._saved = saved
        self.model = ViewsModel(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        title = QLabel("Views")
        title.setObjectName("panelTitle")
        layout.addWidget(title)
        self.list = QListView(self)
        self.list.setAccessibleName("Views")
        self.list.setModel(self.model)
        self.list.setItemDelegate(ViewDelegate(self.list))
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setUniformItemSizes(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.selectionModel().currentRowChanged.connect(self._chosen)
        layout.addWidget(self.list, 1)
        self.new_button = QPushButton("New filter…", self)
        self.new_button.setAccessibleName("Save a new filter as a view")
        self.new_button.clicked.connect(self.new_filter)
        layout.addWidget(self.new_button)
        # The agent's @mentions, under the views: found later, counted while unread.
        self.mentions = MentionsPanel(bridge, self)
        layout.addWidget(self.mentions, 1)
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(RECOUNT_AFTER_MS)
        self._recount.timeout.connect(self.refresh)
        bridge.entitiesChanged.connect(self._changed)
        bridge.directoryChanged.connect(lambda _d: self.refresh())

    def specs(self) -> list[ViewSpec]:
        return [*self._bridge.tickets.builtin_views(self._bridge.directory), *self._saved.load()]

    def refresh(self) -> None:
        self._bridge.run(self._reload())

    async def _reload(self) -> None:
        counts = await self._bridge.tickets.view_counts(self.specs())
        current = self.current_key()
        self.model.set_views(counts)
        if current is not None and self.current_key() != current:
            self.select(current)

    async def load(self, select_key: str | None = None) -> None:
        """First fill; selects ``select_key`` (or the first view)."""
        await self._reload()
        await self.mentions.load()
        if not self.select(select_key or "mine") and self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(0))

    def _changed(self, notice: ChangeNotice) -> None:
        if "ticket" in notice.entities and not self._recount.isActive():
            self._recount.start()

    def current_key(self) -> str | None:
        spec = self.model.spec(self.list.currentIndex().row())
        return spec.key if spec is not None else None

    def select(self, key: str) -> bool:
        row = self.model.row_of(key)
        if row is None:
            return False
        self.list.setCurrentIndex(self.model.index(row))
        return True

    def _chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        spec = self.model.spec(current.row())
        if spec is not None:
            self.viewChosen.emit(spec)

    # ---- saved filters -----------------------------------------------------------------

    def new_filter(self) -> None:
        dialog = FilterDialog(self._bridge, None, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            spec = dialog.spec()
            self._saved.save([*self._saved.load(), spec])
            self._bridge.run(self.load(spec.key))

    def _context_menu(self, pos: Any) -> None:
        spec = self.model.spec(self.list.indexAt(pos).row())
        if spec is None or not spec.saved:
            return
        menu = QMenu(self)
        menu.addAction("Edit filter…").triggered.connect(lambda: self._edit(spec))
        menu.addAction("Delete filter").triggered.connect(lambda: self._delete(spec))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _edit(self, spec: ViewSpec) -> None:
        dialog = FilterDialog(self._bridge, spec, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            edited = dialog.spec()
            self._saved.save([edited if s.key == spec.key else s for s in self._saved.load()])
            self._bridge.run(self.load(edited.key))

    def _delete(self, spec: ViewSpec) -> None:
        answer = QMessageBox.question(self, "Delete filter", f"Delete the view “{spec.title}”?")
        if answer == QMessageBox.StandardButton.Yes:
            self._saved.save([s for s in self._saved.load() if s.key != spec.key])
            self._bridge.run(self.load())


class FilterDialog(QDialog):
    """Create or edit a saved filter: name, statuses, priorities, channels, assignee, group."""

    def __init__(self, bridge: Bridge, spec: ViewSpec | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Edit filter" if spec else "New filter")
        self.setAccessibleName(self.windowTitle())
        self._key = spec.key if spec else f"saved:{uuid.uuid4()}"
        spec = spec or ViewSpec(key=self._key, title="", saved=True)
        form = QFormLayout(self)
        self.title = QLineEdit(spec.title, self)
        self.title.setPlaceholderText("e.g. Urgent phone tickets")
        self.title.setAccessibleName("Filter name")
        form.addRow("&Name:", self.title)
        self.statuses = self._checks("Status", [str(s) for s in TicketStatus], spec.statuses)
        form.addRow(self.statuses[0])
        self.priorities = self._checks("Priority", [str(p) for p in Priority], spec.priorities)
        form.addRow(self.priorities[0])
        self.channels = self._checks("Channel", [str(c) for c in Channel], spec.channels)
        form.addRow(self.channels[0])
        self.assignee = QComboBox(self)
        self.assignee.setAccessibleName("Assignee")
        self.assignee.addItem("Anyone", None)
        self.assignee.addItem("Me", "me")
        self.assignee.addItem("Nobody (unassigned)", "none")
        for agent in bridge.directory.agents:
            self.assignee.addItem(agent.name, agent.id)
        self.assignee.setCurrentIndex(max(0, self.assignee.findData(spec.assignee)))
        form.addRow("&Assignee:", self.assignee)
        self.group = QComboBox(self)
        self.group.setAccessibleName("Group")
        self.group.addItem("Any group", None)
        self.group.addItem("My groups", "mine")
        for team in bridge.directory.groups:
            self.group.addItem(team.name, team.id)
        self.group.setCurrentIndex(
            max(0, self.group.findData(spec.group_ids[0] if spec.group_ids else None))
        )
        form.addRow("&Group:", self.group)
        self.tags = QLineEdit(", ".join(spec.tags), self)
        self.tags.setAccessibleName("Tags")
        self.tags.setPlaceholderText("comma-separated; any of them")
        form.addRow("&Tags:", self.tags)
        self.text = QLineEdit(spec.text, self)
        self.text.setAccessibleName("Subject or customer contains")
        form.addRow("&Contains:", self.text)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _checks(
        self, title: str, values: list[str], chosen: tuple[str, ...]
    ) -> tuple[QGroupBox, list[QCheckBox]]:
        box = QGroupBox(title, self)
        grid = QGridLayout(box)
        boxes = []
        for i, value in enumerate(values):
            check = QCheckBox(value.replace("_", " ").capitalize(), box)
            check.setProperty("value", value)
            check.setChecked(value in chosen)
            grid.addWidget(check, i // 3, i % 3)
            boxes.append(check)
        return box, boxes

    def _accept(self) -> None:
        if not self.title.text().strip():
            self.title.setFocus()
            self.title.setPlaceholderText("A view needs a name")
            return
        self.accept()

    def spec(self) -> ViewSpec:
        def chosen(boxes: tuple[QGroupBox, list[QCheckBox]]) -> tuple[str, ...]:
            return tuple(str(b.property("value")) for b in boxes[1] if b.isChecked())

        group = self.group.currentData()
        return ViewSpec(
            key=self._key,
            title=self.title.text().strip(),
            statuses=chosen(self.statuses),
            priorities=chosen(self.priorities),
            channels=chosen(self.channels),
            assignee=self.assignee.currentData(),
            group_ids=(group,) if group else (),
            tags=tuple(t.strip().lower() for t in self.tags.text().split(",") if t.strip()),
            text=self.text.text().strip(),
            saved=True,
        )
