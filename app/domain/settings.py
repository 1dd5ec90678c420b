"""Workspace settings: what every workstation needs to know of how the workspace is set up.

The one setting so far, ``phone-region``: the region (ISO 3166 code, "GB") of phone numbers
written without a country code.  Every agent sees the settings (they replicate to every
workstation, so the desk normalises numbers offline as the server does); only admins, the
command line (``switchboard-server settings set``) and the server's own actors change them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Connection, insert, select, update

from app import phones
from app.domain.kinds import Kind
from app.domain.mutation import Mutation, Refused, StoreTx, admins
from app.domain.sight import EVERYONE, Everyone
from app.domain.wire import load
from app.models.tables import T_SETTINGS
from app.sync import protocol as p

PHONE_REGION = "phone-region"


@dataclass(frozen=True)
class SettingSpec:
    """A setting's meaning: what it is for, its value where none is set, how a value is
    checked and written ("gb" -> "GB"; raises ValueError with the reason in plain words)."""

    name: str
    about: str
    default: str
    clean: Callable[[str], str]


def _region(value: str) -> str:
    region = value.strip().upper()
    if not phones.valid_region(region):
        raise ValueError(
            f"“{value.strip()}” is not a region code; use a two-letter code such as GB, US or DE"
        )
    return region


SPECS = {
    spec.name: spec
    for spec in (
        SettingSpec(
            PHONE_REGION,
            "where phone numbers written without a country code are from",
            phones.DEFAULT_REGION,
            _region,
        ),
    )
}

SETTING = Kind("setting", T_SETTINGS, Everyone(), bootstrap=100)  # last: nothing refers to it


class SettingSetArgs(p.WireModel):
    key: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[str, Field(max_length=200)]


def setting(conn: Connection, name: str) -> str:
    """A setting's value in a store or a cache (its default where none is set)."""
    value = conn.execute(select(T_SETTINGS.c.value).where(T_SETTINGS.c.id == name)).scalar()
    return str(value) if value is not None else SPECS[name].default


def phone_region(conn: Connection) -> str:
    """The region of numbers written without a country code ("US" until an admin sets one)."""
    return setting(conn, PHONE_REGION)


def setting_set(tx: StoreTx, args: SettingSetArgs) -> dict[str, Any]:
    spec = SPECS.get(args.key)
    if spec is None:
        known = ", ".join(sorted(SPECS))
        raise Refused(
            p.ErrorCode.INVALID_MUTATION,
            f"there is no setting called “{args.key}”; the settings are: {known}",
        )
    try:
        value = spec.clean(args.value)
    except ValueError as exc:
        raise Refused(p.ErrorCode.INVALID_MUTATION, str(exc)) from None
    values = {"value": value, "updated_at": tx.now}
    done = tx.conn.execute(update(T_SETTINGS).where(T_SETTINGS.c.id == spec.name).values(values))
    if done.rowcount == 0:
        tx.conn.execute(insert(T_SETTINGS).values(id=spec.name, **values))
    data = load(tx.conn, "setting", spec.name)
    tx.log("setting", spec.name, data=data, fields=["value"], audience=EVERYONE)
    return {"key": spec.name, "value": value}


KINDS = (SETTING,)
MUTATIONS = (
    Mutation(
        "setting.set",
        SettingSetArgs,
        setting_set,
        kind="setting",
        refusal="Workspace setting",
        subject=lambda a: a.key,
        allowed=admins,
        denied="only admins change the workspace's settings",
    ),
)
