"""Fuzz target 2: rtio/ws, the frame parser (frames.py) and the protocol's receive path
(protocol.py, with utf8.py and deflate.py behind it), and the C accelerator's apply_mask
against the pure-Python reference.

Input: two config bytes, then the bytes a peer sends.
  c0 bit 0: client side (frames unmasked) / server side (frames masked)
  c0 bit 1: permessage-deflate negotiated (RSV1 allowed)
  c0 bit 2: deliver_before_failing
  c0 bits 3-4: max_message_size None / 125 / 1000 / 65536; bits 5-6: max_frame_size same
  c0 bit 7: FrameParser alone (ProtocolError allowed) instead of the whole protocol
  c1: the bytes arrive in pieces of c1 % 32 + 1 (0x?? with bit 5: all at once)
WebSocketProtocol.receive_data must raise nothing at all (connection.py calls it bare from
data_received); the FrameParser alone may raise ProtocolError (rtio.ws's). Messages must
respect max_message_size; apply_mask must equal _apply_mask_py on every payload.
"""

from __future__ import annotations

import contextlib

import atheris

with atheris.instrument_imports(include=["rtio"]):
    from rtio.ws import frames
    from rtio.ws.deflate import DeflateParams, PerMessageDeflate
    from rtio.ws.errors import ProtocolError
    from rtio.ws.frames import FrameParser, _apply_mask_py, apply_mask
    from rtio.ws.protocol import Side, WebSocketProtocol

from _harness import Finding, run

_SIZES = (None, 125, 1000, 65536)
_SPEEDUPS = apply_mask is not _apply_mask_py


def _check_mask(payload: bytes) -> None:
    if not _SPEEDUPS or len(payload) < 4:
        return
    mask = payload[:4]
    for offset in (0, 1, 3):
        view = memoryview(payload)[offset:]
        if apply_mask(view, mask) != _apply_mask_py(view, mask):
            raise Finding("C apply_mask differs from the pure-Python reference")
    if apply_mask(bytearray(payload), mask) != _apply_mask_py(payload, mask):
        raise Finding("C apply_mask differs on a bytearray")


class _Keys:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> bytes:
        self.n += 1
        return self.n.to_bytes(4, "big")


def _pieces(c1: int, data: bytes) -> list[bytes]:
    if c1 & 0x20:
        return [data]
    step = c1 % 32 + 1
    return [data[i : i + step] for i in range(0, len(data), step)]


def _frame_parser(c1: int, wire: bytes, client: bool, rsv1: bool, max_frame: int | None) -> None:
    parser = FrameParser(
        require_mask=not client, allowed_rsv=frames.RSV1 if rsv1 else 0, max_payload=max_frame
    )
    for piece in _pieces(c1, wire):
        if parser.small_frames(piece) is not None:
            continue
        parser.feed(piece)
        while True:
            pending = parser.pending_frame()
            if pending is not None:
                parser.pending_payload(pending[2] // 2)
            frame = parser.next_frame()
            if frame is None:
                break
            if max_frame is not None and frame.opcode < 8 and len(frame.payload) > max_frame:
                raise Finding("frame over max_payload")
            if frame.opcode == frames.Opcode.CLOSE:
                frames.parse_close(frame.payload)


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    c0, c1 = data[0], data[1]
    wire = data[2:]
    _check_mask(wire)
    client = bool(c0 & 1)
    max_msg = _SIZES[(c0 >> 3) & 3]
    max_frame = _SIZES[(c0 >> 5) & 3]
    if c0 & 0x80:
        # the FrameParser alone may raise rtio.ws's own remote violation
        with contextlib.suppress(ProtocolError):
            _frame_parser(c1, wire, client, bool(c0 & 2), max_frame)
        return
    deflate = PerMessageDeflate(DeflateParams(), is_server=not client) if c0 & 2 else None
    proto = WebSocketProtocol(
        Side.CLIENT if client else Side.SERVER,
        deflate=deflate,
        max_frame_size=max_frame,
        max_message_size=max_msg,
        mask_key=_Keys() if client else None,
        deliver_before_failing=bool(c0 & 4),
    )
    for piece in _pieces(c1, wire):
        for event in proto.receive_data(piece):
            if max_msg is not None:
                if type(event) is bytes and len(event) > max_msg:
                    raise Finding("binary message over max_message_size")
                if type(event) is str and len(event.encode()) > max_msg:
                    raise Finding("text message over max_message_size")
        if proto.pending_failure is not None:
            proto.fail_pending()
        proto.data_to_send()
    proto.receive_eof()
    proto.data_to_send()


if __name__ == "__main__":
    run("ws", one_input, ())
