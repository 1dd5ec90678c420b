"""PyInstaller entry point for the workstation (`switchboard`): a call event or a
``switchboard://`` link goes to the running desk (app/desk_link.py), the rest to app/cli.py."""

from app.launch import main

raise SystemExit(main())
