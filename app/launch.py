"""The ``switchboard`` program's entry point: call events go straight to the running desk.

A softphone runs ``switchboard call incoming --from N`` (or the OS opens a
``switchboard://`` link) on every ring, so that path must start in tens of milliseconds: it
is dispatched here to `app.desk_link`, which imports only the standard library, before
`app.cli` (the composition root, with the sync engine, SQLAlchemy and Qt behind it) is
imported for everything else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from app import desk_link

    if desk_link.is_call_command(args):
        status = desk_link.main(args)
        if status != desk_link.EXIT_NO_DESK or not desk_link.opens_desk(args):
            return status
        # A switchboard:// link and no desk: start the desk; it pops the call once it is up.
        os.environ[desk_link.PENDING_ENV] = args[0]
        args = []
    from app.cli import main as desk_main

    return desk_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
