"""Every read the desk makes, one reader per area, and the search indexer beside them (see
docs/workstation.md).

* ``pool.ReaderPool`` — two reader threads with read-only connections (``PRAGMA
  query_only=ON``) to the cache; every reader below runs its queries there.
* ``directory.DirectoryReader`` — agents, groups, this agent's groups.
* ``tickets.TicketListReader`` — built-in views, view counts, a view's ordered ticket ids,
  places and rows.
* ``conversations.ConversationReader`` — a ticket's thread, draft, queued and refused changes;
  single messages; refusals.
* ``customers.CustomerReader`` — customer 360.
* ``customer_finder.CustomerFinder`` — customers found as the agent types (name, email,
  organization, phone in any format), and one customer read for the editor.
* ``canned.CannedReader`` — canned responses, and which the agent may edit.
* ``mentions.MentionReader`` — the agent's @mentions and how many are unread.
* ``search.SearchReader`` — search everywhere (FTS5).
* ``phone.PhoneReader`` — who is calling (by E.164 number), the dispositions offered.
* ``indexer.SearchIndexer`` — the only writer here: it indexes what the sync engine's
  triggers queued (search index, waiting times), on a connection and thread of its own.

``DeskReaders.open`` builds them all on one cache; the composition root hands them to the
bridge.  Answers are the frozen dataclasses of ``app/sync/desk_types.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.sync.desk.canned import CannedReader
from app.sync.desk.conversations import ConversationReader
from app.sync.desk.customer_finder import CustomerFinder
from app.sync.desk.customers import CustomerReader
from app.sync.desk.directory import DirectoryReader
from app.sync.desk.indexer import INDEX_IDLE_S, SearchIndexer
from app.sync.desk.mentions import MentionReader
from app.sync.desk.phone import PhoneReader
from app.sync.desk.pool import ReaderPool
from app.sync.desk.search import SearchReader
from app.sync.desk.tickets import TicketListReader


@dataclass(frozen=True)
class DeskReaders:
    """The desk's readers over one cache, their shared reader pool and the search indexer.

    ``await DeskReaders.open(...)`` after the engine has opened the cache; ``close()`` at the
    end.  Every reader method may be awaited from the UI's loop; none blocks it.
    """

    pool: ReaderPool
    indexer: SearchIndexer
    directory: DirectoryReader
    tickets: TicketListReader
    conversations: ConversationReader
    customers: CustomerReader
    canned: CannedReader
    search: SearchReader
    phone: PhoneReader
    mentions: MentionReader
    finder: CustomerFinder

    @classmethod
    async def open(
        cls, cache_path: Path, agent_id: str, *, index_idle_s: float = INDEX_IDLE_S
    ) -> DeskReaders:
        """Open the readers on ``cache_path`` for ``agent_id`` and start indexing."""
        pool = ReaderPool(cache_path)
        indexer = SearchIndexer(cache_path, idle_s=index_idle_s)
        await pool.open()
        try:
            await indexer.open()
        except BaseException:
            await pool.close()
            raise
        return cls(
            pool=pool,
            indexer=indexer,
            directory=DirectoryReader(pool, agent_id),
            tickets=TicketListReader(pool, indexer, agent_id),
            conversations=ConversationReader(pool, agent_id),
            customers=CustomerReader(pool),
            canned=CannedReader(pool, agent_id),
            search=SearchReader(pool, indexer),
            phone=PhoneReader(pool),
            mentions=MentionReader(pool, agent_id),
            finder=CustomerFinder(pool, indexer),
        )

    async def close(self) -> None:
        """Stop indexing, then close the indexer's and the readers' connections."""
        try:
            await self.indexer.close()
        finally:
            await self.pool.close()


__all__ = [
    "CannedReader",
    "ConversationReader",
    "CustomerFinder",
    "CustomerReader",
    "DeskReaders",
    "DirectoryReader",
    "ReaderPool",
    "SearchIndexer",
    "SearchReader",
    "TicketListReader",
]
