"""Attachments end to end against a real server on port 0, with real SQLite files.

A file attached on one workstation is copied into its store at once, its bytes reach the
server before the message naming them, a colleague's workstation fetches them only when asked
and keeps them for offline use; the same bytes are stored once; the server refuses what is
over its limit or does not hash to what it claims, and changes nothing; an upload cut off
goes on where it stopped; hostile file names arrive harmless.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update
from websockets.asyncio.client import ClientConnection, connect

from app.files import safe_file_name
from app.models.tables import T_ATTACHMENTS, T_BLOB_PARTS, T_BLOB_UPLOADS, T_BLOBS, T_MESSAGES
from app.server.quotas import AgentQuotas
from app.sync import cache
from app.sync.engine import SyncEngine
from app.sync.engine.attachments import AttachmentTooLarge, AttachmentUnavailable
from app.sync.protocol import BLOB_CHUNK_BYTES
from tests.world import PASSWORD, Recorder, eventually, make_store, running_server, served_world

TIMEOUT = 10.0


async def desk(tmp: Path, url: str, email: str) -> SyncEngine:
    """A signed-in, started engine whose cache (and so file store) is a folder of its own."""
    folder = tmp / email.split("@")[0]
    engine = SyncEngine(folder / "cache.db", url, observer=Recorder())
    await engine.open()
    await engine.login(email, PASSWORD)
    engine.start()
    await engine.wait_online(20)
    return engine


def count(store: Engine, table: Any, *where: Any) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def file_of(tmp: Path, name: str, size: int, seed: int = 1) -> Path:
    path = tmp / "originals" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    block = hashlib.sha256(str(seed).encode()).digest()
    path.write_bytes((block * (size // len(block) + 1))[:size])
    return path


async def cached_attachments(engine: SyncEngine, ticket_id: str) -> list[dict[str, Any]]:
    def read(conn: Any) -> list[dict[str, Any]]:
        rows = conn.execute(select(T_ATTACHMENTS).where(T_ATTACHMENTS.c.ticket_id == ticket_id))
        return [dict(r) for r in rows.mappings()]

    return await engine.read(read)


def test_sent_online_fetched_lazily_by_a_colleague_and_opened_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            lin = await desk(tmp_path, world.url, "lin@example.com")
            world.engines += [ada, lin]
            original = file_of(tmp_path, "invoice.pdf", 3 * BLOB_CHUNK_BYTES + 1234)
            attached = await ada.attachments.attach_file(original, "application/pdf")
            original.unlink()  # copied in at once: moving the original changes nothing
            assert attached.size == 3 * BLOB_CHUNK_BYTES + 1234
            message_id = await ada.reply("t-1", "Your invoice", attachments=[attached.as_args()])
            await ada.wait_drained()
            assert count(world.store, T_MESSAGES, T_MESSAGES.c.id == message_id) == 1
            assert count(world.store, T_ATTACHMENTS, T_ATTACHMENTS.c.message_id == message_id) == 1
            assert count(world.store, T_BLOBS, T_BLOBS.c.sha256 == attached.sha256) == 1

            seen = await eventually(lambda: cached_attachments(lin, "t-1"))
            assert seen[0]["file_name"] == "invoice.pdf"
            assert seen[0]["size"] == attached.size
            # Lazily: nothing fetched until asked.
            assert lin.attachments.local_path(attached.sha256) is None
            progress: list[tuple[int, int]] = []
            lin.attachments.on_progress = lambda _s, done, total, _up: progress.append(
                (done, total)
            )
            path = await lin.attachments.fetch(attached.sha256)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == attached.sha256
            assert progress[-1] == (attached.size, attached.size)
            assert len(progress) == 4  # chunk by chunk

            await lin.stop()  # offline now
            saved = tmp_path / "saved" / "my copy.pdf"
            saved.parent.mkdir()
            await lin.attachments.save_as(attached.sha256, saved)  # "Save as…", offline
            assert saved.read_bytes() == path.read_bytes()
            assert saved.stat().st_mode & stat.S_IWUSR  # the agent's own copy: not read-only
            opened = await lin.attachments.copy_to_open(attached.sha256, "invoice.pdf")
            assert opened.name == "invoice.pdf"
            assert opened.read_bytes() == path.read_bytes()
            # A file never fetched is unavailable offline, in words.
            other = file_of(tmp_path, "photo.png", 500, seed=2)
            more = await ada.attachments.attach_file(other, "image/png", width=10, height=10)
            await ada.reply("t-1", "A photo", attachments=[more.as_args()])
            await ada.wait_drained()
            with pytest.raises(AttachmentUnavailable, match="offline"):
                await lin.attachments.fetch(more.sha256)

    asyncio.run(scenario())


def test_attached_offline_sent_once_on_reconnect_bytes_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            world.engines.append(ada)
            await ada.stop()
            original = file_of(tmp_path, "log.txt", BLOB_CHUNK_BYTES * 2 + 10)
            attached = await ada.attachments.attach_file(original, "text/plain")
            message_id = await ada.reply("t-1", "Logs attached", attachments=[attached.as_args()])
            rows = await cached_attachments(ada, "t-1")
            assert [r["sha256"] for r in rows] == [attached.sha256]  # shown at once, offline
            assert count(world.store, T_BLOBS) == 0
            assert count(world.store, T_MESSAGES, T_MESSAGES.c.id == message_id) == 0

            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained()
            # Accepted, so its bytes were there first: the server refuses a message whose
            # files it does not hold (see the next test).
            assert count(world.store, T_MESSAGES, T_MESSAGES.c.id == message_id) == 1
            assert count(world.store, T_ATTACHMENTS) == 1
            assert count(world.store, T_BLOBS) == 1
            assert count(world.store, T_BLOB_PARTS) == 3
            assert count(world.store, T_BLOB_UPLOADS) == 0
            # Reconnecting again sends nothing twice.
            await ada.stop()
            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained()
            assert count(world.store, T_ATTACHMENTS) == 1
            assert count(world.store, T_MESSAGES, T_MESSAGES.c.id == message_id) == 1
            assert not ada.observer.refused  # type: ignore[attr-defined]

    asyncio.run(scenario())


# ---- the wire, as a forger would use it ------------------------------------------------------


@asynccontextmanager
async def raw_sync(url: str, engine: SyncEngine) -> AsyncIterator[ClientConnection]:
    """A bare connection with ``engine``'s token and device, past hello and catch-up."""
    device = await engine.read(lambda c: cache.get_state(c, "device_id"))
    headers = {"Authorization": f"Bearer {engine.token}"}
    async with connect(url + "/sync", additional_headers=headers, max_size=None) as ws:
        hello = {"type": "hello", "protocol": {"min": 1, "max": 1}, "device_id": device}
        await ws.send(json.dumps({**hello, "cursor": 0}))
        while (await recv(ws))["type"] != "caught_up":
            pass
        yield ws


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert isinstance(frame, dict)
    return frame


async def ask(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({**frame, "request_id": "r-1"}))
    while True:
        answer = await recv(ws)
        if answer.get("request_id") == "r-1":
            return answer


def chunk(sha256: str, offset: int, data: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    return {"type": "blob_chunk", "sha256": sha256, "offset": offset, "data": encoded}


def test_the_server_refuses_oversize_and_mismatched_bytes_and_stores_nothing(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path, attachment_limit=600_000) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            world.engines.append(ada)
            # In the desk: refused at once, with the limit in the words, nothing copied.
            big = file_of(tmp_path, "video.mp4", 700_000)
            with pytest.raises(AttachmentTooLarge, match=r"at most 600 KB"):
                await ada.attachments.attach_file(big, "video/mp4")
            assert not list((tmp_path / "ada" / "cache.db.files" / "files").rglob("*"))
            await ada.stop()
            async with raw_sync(world.url, ada) as ws:
                forged = {"type": "blob_offer", "sha256": "a" * 64, "size": 50_000_000}
                refused = await ask(ws, forged)
                assert (refused["type"], refused["code"]) == ("error", "too_large")
                assert "600 KB" in refused["message"]

                # Bytes that are not what their hash says: refused, nothing kept.
                data = os.urandom(1000)
                claimed = hashlib.sha256(b"something else").hexdigest()
                state = await ask(ws, {"type": "blob_offer", "sha256": claimed, "size": 1000})
                assert (state["type"], state["received"], state["stored"]) == (
                    "blob_state",
                    0,
                    False,
                )
                refused = await ask(ws, chunk(claimed, 0, data))
                assert refused["code"] == "hash_mismatch"
                # A message naming bytes the server does not hold is refused.
                attachment = {
                    "id": "f-1",
                    "sha256": claimed,
                    "file_name": "x.bin",
                    "mime_type": "application/octet-stream",
                    "size": 1000,
                }
                message = {"id": "m-forged", "ticket_id": "t-1", "kind": "note", "body": "x"}
                await ws.send(
                    json.dumps(
                        {
                            "type": "mutation",
                            "mutation_id": 10_000,
                            "name": "message.add",
                            "args": {"message": message, "attachments": [attachment]},
                        }
                    )
                )
                while (answer := await recv(ws))["type"] not in ("ack", "reject"):
                    pass
                assert answer["type"] == "reject"
                assert "has not reached the server" in answer["message"]
                # A chunk that is not base64, or out of order, is refused too.
                bad = {**chunk(claimed, 0, b"x"), "data": "***"}
                assert (await ask(ws, bad))["code"] == "invalid_message"
            for table in (T_BLOBS, T_BLOB_PARTS, T_BLOB_UPLOADS, T_ATTACHMENTS):
                assert count(world.store, table) == 0, table.name
            assert count(world.store, T_MESSAGES, T_MESSAGES.c.id == "m-forged") == 0

    asyncio.run(scenario())


def test_an_upload_cut_off_goes_on_where_it_stopped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            world.engines.append(ada)
            await ada.stop()
            original = file_of(tmp_path, "scan.tiff", 3 * BLOB_CHUNK_BYTES + 7)
            attached = await ada.attachments.attach_file(original, "image/tiff")
            data = original.read_bytes()
            async with raw_sync(world.url, ada) as ws:  # this workstation, cut off after 2
                size = len(data)
                await ask(ws, {"type": "blob_offer", "sha256": attached.sha256, "size": size})
                for i in range(2):
                    part = data[i * BLOB_CHUNK_BYTES : (i + 1) * BLOB_CHUNK_BYTES]
                    state = await ask(ws, chunk(attached.sha256, i * BLOB_CHUNK_BYTES, part))
                assert state["received"] == 2 * BLOB_CHUNK_BYTES
                # A chunk at the wrong offset says where to go on.
                wrong = await ask(ws, chunk(attached.sha256, 0, data[:BLOB_CHUNK_BYTES]))
                assert wrong["code"] == "conflict"
                assert wrong["details"]["received"] == 2 * BLOB_CHUNK_BYTES
            sent: list[int] = []
            ada.attachments.on_progress = lambda _s, done, _total, _up: sent.append(done)
            await ada.reply("t-1", "Scan", attachments=[attached.as_args()])
            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained()
            assert sent == [3 * BLOB_CHUNK_BYTES, len(data)]  # only the chunks still missing
            assert count(world.store, T_ATTACHMENTS) == 1
            with world.store.connect() as conn:
                parts = conn.execute(
                    select(T_BLOB_PARTS.c.data).order_by(T_BLOB_PARTS.c.part_no)
                ).scalars()
                assert b"".join(parts) == data

    asyncio.run(scenario())


def test_same_bytes_are_stored_once_and_hostile_names_arrive_harmless(tmp_path: Path) -> None:
    hostile = "..\\..\\Windows\\evil\u202egpj.exe"

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            lin = await desk(tmp_path, world.url, "lin@example.com")
            world.engines += [ada, lin]
            original = file_of(tmp_path, "contract.pdf", 2000)
            first = await ada.attachments.attach_file(original, "application/pdf")
            second = await lin.attachments.attach_file(original, "application/pdf")
            named = await ada.attachments.attach_file(
                original, "application/pdf", file_name=hostile
            )
            assert first.sha256 == second.sha256 == named.sha256
            assert named.file_name == "evilgpj.exe"
            await ada.reply("t-1", "One", attachments=[first.as_args()])
            await lin.reply("t-1", "Two", kind="note", attachments=[second.as_args()])
            # A forger skipping the workstation's cleaning: the server cleans it the same way.
            forged = {**named.as_args(), "file_name": "/etc/\x1b[2Jpasswd\n"}
            await ada.reply("t-1", "Three", kind="note", attachments=[forged])
            await ada.wait_drained()
            await lin.wait_drained()
            assert count(world.store, T_BLOBS) == 1
            assert count(world.store, T_BLOB_PARTS) == 1
            assert count(world.store, T_ATTACHMENTS) == 3
            with world.store.connect() as conn:
                names = set(conn.execute(select(T_ATTACHMENTS.c.file_name)).scalars())
            assert names == {"contract.pdf", safe_file_name("/etc/\x1b[2Jpasswd\n")}
            assert safe_file_name("/etc/\x1b[2Jpasswd\n") == "[2Jpasswd"
            opened = await ada.attachments.copy_to_open(named.sha256, hostile)
            assert opened.parent.parent == tmp_path / "ada" / "cache.db.files" / "opened"
            assert opened.name == "evilgpj.exe"

    asyncio.run(scenario())


def test_empty_files_and_a_refused_reply_sent_again_keep_their_files(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            lin = await desk(tmp_path, world.url, "lin@example.com")
            world.engines += [ada, lin]
            empty = file_of(tmp_path, "empty.txt", 0)
            photo = file_of(tmp_path, "photo.jpg", 5000, seed=3)
            files = [
                await ada.attachments.attach_file(empty, "text/plain"),
                await ada.attachments.attach_file(photo, "image/jpeg", width=40, height=30),
            ]
            version = await ada.read(lambda c: cache_version(c, "t-1"))
            # A colleague changes the ticket: Ada's reply, made on what she saw, is refused.
            await lin.update_ticket("t-1", {"status": "pending"})
            await lin.wait_drained()
            await eventually(lambda: newer(ada, version))
            await ada.reply(
                "t-1", "Both files", seen_version=version, attachments=[f.as_args() for f in files]
            )
            await ada.wait_drained()
            refused = await ada.refusals()
            assert [r["code"] for r in refused] == ["conflict"]
            assert count(world.store, T_ATTACHMENTS) == 0
            await ada.resend_refused(refused[0]["mutation_id"])  # "send anyway"
            await ada.wait_drained()
            with world.store.connect() as conn:
                rows = conn.execute(
                    select(T_ATTACHMENTS.c.file_name, T_ATTACHMENTS.c.size).order_by(
                        T_ATTACHMENTS.c.position
                    )
                ).all()
            assert [tuple(r) for r in rows] == [("empty.txt", 0), ("photo.jpg", 5000)]
            assert count(world.store, T_BLOBS) == 2
            local = await cached_attachments(ada, "t-1")
            assert len(local) == 2  # the failed message's files went with it, not left behind
            # Lin fetches the empty file like any other.
            path = await lin.attachments.fetch(hashlib.sha256(b"").hexdigest())
            assert path.stat().st_size == 0

    asyncio.run(scenario())


def test_uploads_count_against_the_agents_share_and_wait_their_turn(tmp_path: Path) -> None:
    """A chunk over the agent's byte rate is refused for now (``rate_limited`` with
    ``retry_after``), stores nothing, and the workstation sends it again when told."""
    quotas = AgentQuotas(bytes_per_s=1_000_000, bytes_burst=600_000)

    async def scenario() -> None:
        async with served_world(tmp_path, quotas=quotas) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            world.engines.append(ada)
            original = file_of(tmp_path, "big.bin", 3 * BLOB_CHUNK_BYTES)
            attached = await ada.attachments.attach_file(original, "application/octet-stream")
            await ada.reply("t-1", "Big file", kind="note", attachments=[attached.as_args()])
            await ada.wait_drained(30)
            assert quotas.refused >= 1  # at least one chunk had to wait
            assert count(world.store, T_ATTACHMENTS) == 1
            with world.store.connect() as conn:
                parts = conn.execute(
                    select(T_BLOB_PARTS.c.data).order_by(T_BLOB_PARTS.c.part_no)
                ).scalars()
                assert b"".join(parts) == original.read_bytes()

    asyncio.run(scenario())


def test_bytes_no_message_names_are_swept_after_a_while(tmp_path: Path) -> None:
    """Stored bytes that no attachment names (a refused message discarded) go after two days,
    a few with each offer; named bytes and recent ones stay."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            world.engines.append(ada)
            named = await ada.attachments.attach_file(file_of(tmp_path, "a.txt", 10), "text/plain")
            await ada.reply("t-1", "Named", kind="note", attachments=[named.as_args()])
            await ada.wait_drained()
            old = datetime.now(UTC) - timedelta(days=3)
            with world.store.begin() as conn:
                conn.execute(update(T_BLOBS).values(created_at=old))  # the named one, old
                for sha256, when in (("0" * 64, old), ("1" * 64, datetime.now(UTC))):
                    conn.execute(insert(T_BLOBS).values(sha256=sha256, size=1, created_at=when))
                    conn.execute(
                        insert(T_BLOB_PARTS).values(owner="", sha256=sha256, part_no=0, data=b"x")
                    )
            other = await ada.attachments.attach_file(file_of(tmp_path, "b.txt", 20), "text/plain")
            await ada.reply("t-1", "Another", kind="note", attachments=[other.as_args()])
            await ada.wait_drained()
            with world.store.connect() as conn:
                kept = set(conn.execute(select(T_BLOBS.c.sha256)).scalars())
                parts = set(conn.execute(select(T_BLOB_PARTS.c.sha256)).scalars())
            assert kept == {named.sha256, "1" * 64, other.sha256}  # "0"*64 was swept
            assert parts == kept

    asyncio.run(scenario())


def cache_version(conn: Any, ticket_id: str) -> int:
    from app.models.tables import T_TICKETS

    return int(
        conn.execute(select(T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)).scalar()
    )


async def newer(engine: SyncEngine, version: int) -> bool:
    return bool(await engine.read(lambda c: cache_version(c, "t-1")) > version)


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_serve_each_others_files(pg_url: str, tmp_path: Path) -> None:
    """The bytes live in the store: a file uploaded through one server process is fetched
    through another that shares the PostgreSQL store, and stored once."""

    async def scenario() -> None:
        store = make_store(pg_url)
        try:
            async with running_server(store) as server_a, running_server(store) as server_b:
                ada = await desk(tmp_path, server_a.url, "ada@example.com")
                lin = await desk(tmp_path, server_b.url, "lin@example.com")
                try:
                    original = file_of(tmp_path, "scan.pdf", 2 * BLOB_CHUNK_BYTES + 99)
                    attached = await ada.attachments.attach_file(original, "application/pdf")
                    await ada.reply("t-1", "Scan", kind="note", attachments=[attached.as_args()])
                    await ada.wait_drained()
                    await eventually(lambda: cached_attachments(lin, "t-1"), 20)
                    path = await lin.attachments.fetch(attached.sha256)
                    assert path.read_bytes() == original.read_bytes()
                    assert count(store, T_BLOB_PARTS) == 3
                finally:
                    await ada.close()
                    await lin.close()
        finally:
            store.dispose()

    asyncio.run(scenario())


def test_a_leaked_hash_opens_nothing_until_its_bytes_are_sent_whole(tmp_path: Path) -> None:
    """Bob (billing) knows the SHA-256 of a file on Ada's care ticket: the server does not tell
    him it has the bytes, refuses a message naming them and refuses to send them to him.
    Uploading the very bytes proves he has them; then his message may name them."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada = await desk(tmp_path, world.url, "ada@example.com")
            bob = await desk(tmp_path, world.url, "bob@example.com")
            world.engines.extend([ada, bob])
            secret = file_of(tmp_path, "contract.pdf", 5000, seed=7)
            attached = await ada.attachments.attach_file(secret, "application/pdf")
            await ada.reply(
                "t-1", "The signed contract", kind="note", attachments=[attached.as_args()]
            )
            await eventually(lambda: _sent(ada))
            await bob.stop()
            leaked = {"type": "blob_offer", "sha256": attached.sha256, "size": attached.size}
            async with raw_sync(world.url, bob) as ws:
                state = await ask(ws, leaked)
                assert (state["type"], state["stored"], state["received"]) == (
                    "blob_state",
                    False,
                    0,
                )
                fetched = await ask(
                    ws, {"type": "blob_fetch", "sha256": attached.sha256, "offset": 0}
                )
                assert (fetched["type"], fetched["code"]) == ("error", "not_found")
                named = {**attached.as_args(), "id": "f-leak"}
                message = {"id": "m-leak", "ticket_id": "t-3", "kind": "note", "body": "mine now"}
                answer = await add_message(ws, 10_000, message, named)
                assert answer["type"] == "reject"
                assert "has not reached the server from this workstation" in answer["message"]
                assert count(world.store, T_MESSAGES, T_MESSAGES.c.id == "m-leak") == 0
                # Sent whole (he does have the file after all): stored once, and his to name.
                done = await ask(ws, chunk(attached.sha256, 0, secret.read_bytes()))
                assert done["stored"] is True
                message = {**message, "id": "m-mine"}
                answer = await add_message(ws, 10_001, message, {**named, "id": "f-mine"})
                assert answer["type"] == "ack", answer
            assert count(world.store, T_BLOBS) == 1
            assert count(world.store, T_ATTACHMENTS, T_ATTACHMENTS.c.ticket_id == "t-3") == 1

    asyncio.run(scenario())


async def add_message(
    ws: ClientConnection, mutation_id: int, message: dict[str, Any], attachment: dict[str, Any]
) -> dict[str, Any]:
    """A raw ``message.add`` with one file; its ack or reject."""
    args = {"message": message, "attachments": [attachment]}
    mutation = {"type": "mutation", "mutation_id": mutation_id, "name": "message.add"}
    await ws.send(json.dumps({**mutation, "args": args}))
    while (answer := await recv(ws))["type"] not in ("ack", "reject"):
        pass
    return answer


async def _sent(engine: SyncEngine) -> bool:
    rows = await engine.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM outbox").scalar())
    return rows == 0
