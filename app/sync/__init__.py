"""Wire protocol and the workstation's sync engine. Plain asyncio; no widgets."""
