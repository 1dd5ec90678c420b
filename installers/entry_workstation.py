"""PyInstaller entry point for the workstation (`switchboard`)."""

from app.cli import main

raise SystemExit(main())
