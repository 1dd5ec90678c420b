"""The central server: plain asyncio and websockets, never Qt."""
