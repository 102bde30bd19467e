"""Byte streams of the API: docker's multiplexed frames, the ``Upgrade: tcp`` hijack, and log following.

docker's attach/exec ask to take over the connection (``Upgrade: tcp``,
answered with ``101 Switching Protocols``); from then on the socket carries
raw bytes both ways.  aiohttp supports this through its payload-parser
seam, as its websockets do: :class:`Hijacked` installs a feeder that hands
incoming bytes to a queue and writes outgoing bytes unframed.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

from pycr.plugins.api.server import prepared

STREAM_IDS = {"stdin": 0, "stdout": 1, "stderr": 2}


def frame(stream: str, data: bytes) -> bytes:
    """docker's multiplexed stream format (non-tty): [stream, 0, 0, 0, size as u32 big-endian] + data."""
    return struct.pack(">BxxxI", STREAM_IDS[stream], len(data)) + data


class _RawResponse(web.StreamResponse):
    _length_check = False  # raw bytes after the headers, as aiohttp's WebSocketResponse does


class _Feeder:
    """aiohttp's payload-parser interface, handing the client's bytes to a queue (b"" = end)."""

    def __init__(self, queue: asyncio.Queue):
        self.queue = queue

    def feed_data(self, data: bytes):
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")

    def set_exception(self, exc, exc_cause=None) -> None:
        self.queue.put_nowait(b"")


class _KeepOpenOnEof:
    """The connection's protocol, except that a half-close by the client does not close the transport."""

    def __init__(self, protocol, on_eof):
        self._protocol, self._on_eof = protocol, on_eof

    def eof_received(self) -> bool:
        self._on_eof()
        return True

    def __getattr__(self, name):
        return getattr(self._protocol, name)


class Hijacked:
    """A connection taken over for raw bytes: ``await h.write(b)``, ``await h.read()`` (b"" at the end)."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, incoming: asyncio.Queue | None):
        self.request, self.resp, self.incoming = request, resp, incoming

    @classmethod
    async def open(cls, request: web.Request, content_type: str) -> "Hijacked":
        upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
        if upgrade:
            resp = _RawResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "tcp",
                                                     "Content-Type": content_type})
        else:  # an old-style client: a plain streamed 200; stdin then is the request body
            resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        resp.force_close()
        await prepared(request, resp)
        incoming = None
        if upgrade:
            incoming = asyncio.Queue()
            feeder = _Feeder(incoming)
            request.protocol.set_parser(feeder)
            # docker's client closes its sending side when its stdin ends; we keep sending until the end
            request.transport.set_protocol(_KeepOpenOnEof(request.protocol, feeder.feed_eof))
        return cls(request, resp, incoming)

    async def write(self, data: bytes) -> None:
        if data:
            await self.resp.write(data)

    async def read(self) -> bytes:
        if self.incoming is None:
            return await self.request.content.readany()
        return await self.incoming.get()

    def close(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.close()


def encode(entry: dict, tty: bool, timestamps: bool, details: bool = False) -> bytes:
    from pycr.plugins.api import layers

    data = layers.logfiles.entry_text(entry, timestamps, details).encode()
    return data if tty else frame("stderr" if entry.get("stream") == "stderr" else "stdout", data)
