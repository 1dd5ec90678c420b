"""A flat list model of frozen rows keyed by id, updated in place (never reset).

Used by the customer panel's lists and the canned-response picker: a change re-reads the
rows and ``set_rows`` applies the difference, so the selection and scroll stay put.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

R = TypeVar("R")
AnyIndex = QModelIndex | QPersistentModelIndex

# Roles every list model of this package answers, beyond Qt's own.
IdRole = Qt.ItemDataRole.UserRole + 1  # the row's id (ticket id, canned id, ...)
RowRole = Qt.ItemDataRole.UserRole + 2  # the frozen row itself


class KeyedListModel(QAbstractListModel, Generic[R]):
    """A flat list of frozen rows, each with a unique key, updated in place.

    ``set_rows`` turns the old list into the new one with removes, moves, inserts and
    ``dataChanged`` — never a reset — so the selection and scroll position stay on their rows
    when a change arrives.  Subclasses say how a row looks in ``row_data``.
    """

    def __init__(self, key: Callable[[R], Hashable], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._key = key
        self._rows: list[R] = []

    # ---- what subclasses provide --------------------------------------------------------

    def row_data(self, row: R, role: int) -> Any:
        """What ``data()`` answers for ``row`` in ``role`` (None: nothing)."""
        return None

    # ---- the model ----------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[R]:
        return tuple(self._rows)

    def row_at(self, index: AnyIndex) -> R | None:
        if not index.isValid() or index.parent().isValid():
            return None
        if 0 <= index.row() < len(self._rows):
            return self._rows[index.row()]
        return None

    def row_of(self, key: Hashable) -> int:
        """The row number of the row keyed ``key``, or -1."""
        for n, row in enumerate(self._rows):
            if self._key(row) == key:
                return n
        return -1

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        if role == IdRole:
            return self._key(row)
        if role == RowRole:
            return row
        return self.row_data(row, role)

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[IdRole] = QByteArray(b"rowId")
        names[RowRole] = QByteArray(b"row")
        return names

    def set_rows(self, new_rows: Sequence[R]) -> None:
        """Make the model hold ``new_rows`` (in that order) by the smallest precise steps."""
        seen: set[Hashable] = set()
        target: list[R] = []
        for row in new_rows:  # a duplicate key would make rows ambiguous: keep the first
            k = self._key(row)
            if k not in seen:
                seen.add(k)
                target.append(row)
        root = QModelIndex()
        # 1. Drop what is gone, in contiguous runs from the end.
        end = len(self._rows) - 1
        while end >= 0:
            if self._key(self._rows[end]) in seen:
                end -= 1
                continue
            start = end
            while start > 0 and self._key(self._rows[start - 1]) not in seen:
                start -= 1
            self.beginRemoveRows(root, start, end)
            del self._rows[start : end + 1]
            self.endRemoveRows()
            end = start - 1
        # 2. Walk the target: every row before ``pos`` is already in place.
        for pos, row in enumerate(target):
            k = self._key(row)
            if pos < len(self._rows) and self._key(self._rows[pos]) == k:
                if self._rows[pos] != row:
                    self._rows[pos] = row
                    self._changed(pos)
                continue
            current = self.row_of(k)
            if current > pos:
                self.beginMoveRows(root, current, current, root, pos)
                old = self._rows.pop(current)
                self._rows.insert(pos, row)
                self.endMoveRows()
                if old != row:
                    self._changed(pos)
            else:
                self.beginInsertRows(root, pos, pos)
                self._rows.insert(pos, row)
                self.endInsertRows()

    def _changed(self, row: int) -> None:
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)
