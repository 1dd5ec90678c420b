"""PyInstaller entry point for the server (`switchboard-server`)."""

from app.server.cli import main

raise SystemExit(main())
