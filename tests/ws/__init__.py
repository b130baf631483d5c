"""Unit, loopback and asyncio/aiohttp tests of rtio.ws."""
