"""Customers on the server and between workstations: phone numbers stored in E.164 with the
region the admin sets, shared phone numbers, single-owner email addresses, new organizations,
and every customer in every cache — a real server on port 0, real caches, real engines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from app.models.tables import T_CUSTOMERS, T_IDENTITIES, T_ORGS, T_SETTINGS
from app.sync.cache import finish_bootstrap, get_state
from app.sync.engine import SyncEngine
from tests.server_process import run_server_command
from tests.world import eventually, make_store, served_world


def identities_of(conn: Connection, customer_id: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(T_IDENTITIES.c.kind, T_IDENTITIES.c.value)
        .where(T_IDENTITIES.c.customer_id == customer_id)
        .order_by(T_IDENTITIES.c.kind, T_IDENTITIES.c.value)
    )
    return [(k, v) for k, v in rows]


def store_identities(store: Engine, customer_id: str) -> list[tuple[str, str]]:
    with store.connect() as conn:
        return identities_of(conn, customer_id)


async def cached_identities(engine: SyncEngine, customer_id: str) -> list[tuple[str, str]]:
    return await engine.read(lambda c: identities_of(c, customer_id))


def new_customer(cid: str, name: str, *identities: tuple[str, str]) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "customer": {
            "name": name,
            "identities": [
                {"id": f"{cid}-{n}", "kind": kind, "value": value}
                for n, (kind, value) in enumerate(identities)
            ],
        },
    }


def test_settings_on_the_command_line_set_the_region_phones_are_read_in(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    make_store(db).dispose()
    listed = run_server_command(["--db", db, "settings", "list"])
    assert listed.returncode == 0, listed.stderr
    assert "phone-region = US" in listed.stdout
    done = run_server_command(["--db", db, "settings", "set", "phone-region", "gb"])
    assert done.returncode == 0, done.stderr
    assert "phone-region = GB" in done.stdout
    wrong = run_server_command(["--db", db, "settings", "set", "phone-region", "Narnia"])
    assert wrong.returncode != 0
    assert "is not a region code" in wrong.stderr
    unknown = run_server_command(["--db", db, "settings", "set", "colour", "blue"])
    assert unknown.returncode != 0
    assert "there is no setting called “colour”" in unknown.stderr
    assert "phone-region = GB" in run_server_command(["--db", db, "settings", "list"]).stdout


def test_phones_are_stored_in_e164_and_a_bad_number_changes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            root, _ = await world.workstation("root@example.com")
            ada, ada_saw = await world.workstation("ada@example.com")

            # Only an admin sets the region; every workstation gets it.
            await ada.mutate("setting.set", {"key": "phone-region", "value": "GB"})
            await eventually(lambda: asyncio.sleep(0, bool(ada_saw.refused)))
            assert ada_saw.refused[-1].code == "forbidden"
            await root.mutate("setting.set", {"key": "phone-region", "value": "gb"})
            await root.wait_drained(10)

            async def ada_has_region() -> bool:
                rows = await ada.read(lambda c: c.execute(select(T_SETTINGS)).mappings().all())
                return [(r["id"], r["value"]) for r in rows] == [("phone-region", "GB")]

            await eventually(ada_has_region)

            # National forms are read in the workspace's region; an address in lower case.
            await ada.mutate(
                "customer.create",
                new_customer(
                    "c-new",
                    "  Nora Night ",
                    ("phone", "020 7946 0018"),
                    ("phone", "+44 (0)20 7946 0018"),  # the same number again
                    ("phone", "tel:+1-415-555-0132"),
                    ("email", " Nora@Example.COM "),
                ),
            )
            await ada.wait_drained(10)
            assert store_identities(world.store, "c-new") == [
                ("email", "nora@example.com"),
                ("phone", "+14155550132"),
                ("phone", "+442079460018"),
            ]
            with world.store.connect() as conn:
                name = conn.execute(
                    select(T_CUSTOMERS.c.name).where(T_CUSTOMERS.c.id == "c-new")
                ).scalar()
            assert name == "Nora Night"

            # A number that cannot be one: refused in plain words, nothing changed anywhere.
            before = store_identities(world.store, "c-new")
            await ada.mutate(
                "customer.update",
                {
                    "customer_id": "c-new",
                    "changes": {
                        "notes": "changed?",
                        "identities": [{"id": "x-1", "kind": "phone", "value": "12"}],
                    },
                },
            )
            await ada.wait_drained(10)
            refusal = ada_saw.refused[-1]
            assert refusal.code == "invalid_mutation"
            assert refusal.message == "“12” has the wrong number of digits for a phone number"
            assert refusal.what == "Customer change"
            assert store_identities(world.store, "c-new") == before
            with world.store.connect() as conn:
                notes = conn.execute(
                    select(T_CUSTOMERS.c.notes).where(T_CUSTOMERS.c.id == "c-new")
                ).scalar()
            assert notes == ""

            async def ada_put_back() -> bool:
                return await cached_identities(ada, "c-new") == before

            await eventually(ada_put_back)
            await ada.mutate(
                "customer.create",
                new_customer("c-bad", "Bad Number", ("phone", "0000 not a phone")),
            )
            await ada.wait_drained(10)
            assert ada_saw.refused[-1].code == "invalid_mutation"
            with world.store.connect() as conn:
                assert (
                    conn.execute(
                        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == "c-bad")
                    ).first()
                    is None
                )
            assert (
                await ada.read(
                    lambda c: c.execute(
                        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == "c-bad")
                    ).first()
                )
                is None
            )

    asyncio.run(scenario())


def test_a_phone_may_be_shared_but_an_email_has_one_owner(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_saw = await world.workstation("ada@example.com")
            lin, _ = await world.workstation("lin@example.com")
            landline = ("phone", "+1 (415) 555-0100")
            await ada.mutate("customer.create", new_customer("c-mum", "Mum Smith", landline))
            await ada.mutate(
                "customer.create",
                new_customer("c-son", "Son Smith", landline, ("email", "son@smith.test")),
            )
            await ada.wait_drained(10)
            assert store_identities(world.store, "c-mum") == [("phone", "+14155550100")]
            assert ("phone", "+14155550100") in store_identities(world.store, "c-son")
            assert ada_saw.refused == []

            # Lin's cache holds both owners of the number (every customer, ticket or not).
            async def lin_has_both() -> bool:
                rows = await lin.read(
                    lambda c: c.execute(
                        select(T_IDENTITIES.c.customer_id).where(
                            T_IDENTITIES.c.value == "+14155550100"
                        )
                    ).all()
                )
                return sorted(r[0] for r in rows) == ["c-mum", "c-son"]

            await eventually(lin_has_both)

            # Customer 1's address on Mum: refused, saying whose it is.
            await ada.mutate(
                "customer.update",
                {
                    "customer_id": "c-mum",
                    "changes": {
                        "identities": [
                            {"id": "m-1", "kind": "phone", "value": "+14155550100"},
                            {"id": "m-2", "kind": "email", "value": "CUSTOMER1@mail.test"},
                        ]
                    },
                },
            )
            await ada.wait_drained(10)
            refusal = ada_saw.refused[-1]
            assert refusal.code == "duplicate"
            assert refusal.message == (
                "email address customer1@mail.test already belongs to Customer 1"
            )
            assert refusal.current == {"customer_id": "c-1", "name": "Customer 1"}
            assert store_identities(world.store, "c-mum") == [("phone", "+14155550100")]

            # An address moves: Lin takes it off Son and puts it on Mum, Ada's cache converges
            # whichever change it applies first (REPLACE lets the newest owner win).
            await lin.mutate(
                "customer.update", {"customer_id": "c-son", "changes": {"identities": []}}
            )
            await lin.mutate(
                "customer.update",
                {
                    "customer_id": "c-mum",
                    "changes": {
                        "identities": [
                            {"id": "m-3", "kind": "phone", "value": "+14155550100"},
                            {"id": "m-4", "kind": "email", "value": "son@smith.test"},
                        ]
                    },
                },
            )
            await lin.wait_drained(10)

            async def ada_converged() -> bool:
                return (
                    await cached_identities(ada, "c-mum") == store_identities(world.store, "c-mum")
                    and await cached_identities(ada, "c-son") == []
                )

            await eventually(ada_converged)
            assert store_identities(world.store, "c-mum") == [
                ("email", "son@smith.test"),
                ("phone", "+14155550100"),
            ]

    asyncio.run(scenario())


def test_a_new_organization_offline_is_sent_before_its_customer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_saw = await world.workstation("ada@example.com")
            await ada.stop()  # offline: both wait in the outbox, in order
            await ada.mutate(
                "organization.create",
                {"organization_id": "o-acme", "name": " Acme Ltd ", "domain": "Acme.test"},
            )
            args = new_customer("c-wile", "Wile E.", ("email", "wile@acme.test"))
            args["customer"]["organization_id"] = "o-acme"
            await ada.mutate("customer.create", args)
            cached = await ada.read(
                lambda c: c.execute(select(T_ORGS.c.name).where(T_ORGS.c.id == "o-acme")).scalar()
            )
            assert cached == "Acme Ltd"
            assert await cached_identities(ada, "c-wile") == [("email", "wile@acme.test")]
            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained(10)
            assert ada_saw.refused == []
            with world.store.connect() as conn:
                org = conn.execute(select(T_ORGS).where(T_ORGS.c.id == "o-acme")).mappings().one()
                owner = conn.execute(
                    select(T_CUSTOMERS.c.organization_id).where(T_CUSTOMERS.c.id == "c-wile")
                ).scalar()
            assert (org["name"], org["domain"], owner) == ("Acme Ltd", "acme.test", "o-acme")

            # The same name again (case aside) is refused, and the cache lets it go.
            await ada.mutate(
                "organization.create", {"organization_id": "o-acme2", "name": "ACME LTD"}
            )
            await ada.wait_drained(10)
            assert ada_saw.refused[-1].code == "duplicate"

            async def gone() -> bool:
                return (
                    await ada.read(
                        lambda c: c.execute(
                            select(T_ORGS.c.id).where(T_ORGS.c.id == "o-acme2")
                        ).first()
                    )
                    is None
                )

            await eventually(gone)

    asyncio.run(scenario())


def test_a_customer_made_offline_survives_a_bootstrap_until_sent(tmp_path: Path) -> None:
    """A bootstrap drops what the server did not send — but never the agent's own new
    customer and organization still waiting in the outbox (the ticket they open with it
    refers to them)."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_saw = await world.workstation("ada@example.com")
            await ada.stop()
            await ada.mutate("organization.create", {"organization_id": "o-new", "name": "New"})
            args = new_customer("c-here", "Made Offline", ("email", "here@x.test"))
            args["customer"]["organization_id"] = "o-new"
            await ada.mutate("customer.create", args)

            def rebootstrap(conn: Connection) -> None:
                cursor = get_state(conn, "cursor", 0)
                finish_bootstrap(conn, {"customer": {"c-1"}}, cursor, 1)

            await ada.db(rebootstrap)

            def ids(conn: Connection) -> tuple[list[str], list[str]]:
                customers = conn.execute(select(T_CUSTOMERS.c.id).order_by(T_CUSTOMERS.c.id))
                orgs = conn.execute(select(T_ORGS.c.id))
                return [r[0] for r in customers], [r[0] for r in orgs]

            assert await ada.read(ids) == (["c-1", "c-here"], ["o-new"])
            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained(10)
            assert ada_saw.refused == []
            assert store_identities(world.store, "c-here") == [("email", "here@x.test")]

    asyncio.run(scenario())
