"""The ceiling: the least a Python PTP/IP client can do, against the same virtual camera.

Raw sockets, the two-connection handshake, OpenSession, and transactions whose data phase is
read straight into a preallocated buffer with ``recv_into`` and written to the file: no framing
library, no checks beyond the packet types, no events, no progress, no partial files. No real
client should ship this (it trusts the camera with every length), which is why it is the upper
bound a Python client can reach here: ptpkit is reported as a percentage of it.

Packet layouts are PTP/IP's (CIPA DC-X005 §2.3): every packet starts with a u32 length (header
included) and a u32 type; the types used here are InitCommandRequest 1, InitCommandAck 2,
InitEventRequest 3, InitEventAck 4, OperationRequest 6, OperationResponse 7, StartData 9,
Data 10, EndData 12.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import BinaryIO

_HEADER = struct.Struct("<II")
_REQUEST = struct.Struct("<IIIHI")  # length, type, data phase, operation code, transaction id
_NO_DATA_OR_DATA_IN = 1  # the initiator sends no data (CIPA DC-X005: DataPhaseInfo 1)
_OPEN_SESSION = 0x1002
_CLOSE_SESSION = 0x1003
_GET_OBJECT = 0x1009
_GET_DEVICE_PROP_VALUE = 0x1015
_OK = 0x2001
_BUFFER_BYTES = 4 << 20


class MinimalClient:
    def __init__(self, host: str, port: int) -> None:
        self.command = socket.create_connection((host, port))
        self.command.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A receive buffer as large as the read buffer lets the camera go on sending while the
        # last block is written to the file (the default, ~128 KiB, stalls it).
        self.command.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER_BYTES)
        name = "ceiling\0".encode("utf-16-le")
        self._send(1, os.urandom(16) + name + struct.pack("<I", 0x00010000))
        kind, body = self._packet(self.command)
        if kind != 2:
            raise RuntimeError(f"no InitCommandAck (packet type {kind})")
        (connection_number,) = struct.unpack_from("<I", body)
        self.events = socket.create_connection((host, port))
        self.events.sendall(_HEADER.pack(12, 3) + struct.pack("<I", connection_number))
        kind, _ = self._packet(self.events)
        if kind != 4:
            raise RuntimeError(f"no InitEventAck (packet type {kind})")
        self._transaction = 0
        self._buffer = bytearray(_BUFFER_BYTES)
        self._view = memoryview(self._buffer)
        self._header = bytearray(_HEADER.size)
        self.transact(_OPEN_SESSION, 1)

    def close(self) -> None:
        try:
            self.transact(_CLOSE_SESSION)
        finally:
            self.command.close()
            self.events.close()

    # -- packets ---------------------------------------------------------------------------------

    def _send(self, kind: int, payload: bytes) -> None:
        self.command.sendall(_HEADER.pack(_HEADER.size + len(payload), kind) + payload)

    def _exact(self, sock: socket.socket, size: int) -> bytes:
        data = bytearray(size)
        view = memoryview(data)
        got = 0
        while got < size:
            count = sock.recv_into(view[got:], size - got)
            if not count:
                raise ConnectionError("the camera closed the connection")
            got += count
        return bytes(data)

    def _packet(self, sock: socket.socket) -> tuple[int, bytes]:
        length, kind = _HEADER.unpack(self._exact(sock, _HEADER.size))
        return kind, self._exact(sock, length - _HEADER.size)

    def _request(self, opcode: int, params: tuple[int, ...]) -> None:
        self._transaction += 1
        packed = struct.pack(f"<{len(params)}I", *params)
        self.command.sendall(
            _REQUEST.pack(
                _REQUEST.size + len(packed),
                6,
                _NO_DATA_OR_DATA_IN,
                opcode,
                self._transaction,
            )
            + packed
        )

    def _run(self, opcode: int, params: tuple[int, ...], sink: BinaryIO | None) -> bytes:
        """One transaction; its data phase (if any) streamed to ``sink`` or returned."""
        self._request(opcode, params)
        sock = self.command
        collected = bytearray()
        view = self._view
        while True:
            if sock.recv_into(self._header, _HEADER.size, socket.MSG_WAITALL) != _HEADER.size:
                raise ConnectionError("the camera closed the connection")
            length, kind = _HEADER.unpack(self._header)
            if kind in (10, 12):  # Data, EndData: transaction id, then payload
                self._exact(sock, 4)
                remaining = length - _HEADER.size - 4
                while remaining:
                    # Whatever has arrived, up to the buffer: waiting for a full buffer
                    # (MSG_WAITALL) stops the pipeline while the file is written.
                    count = sock.recv_into(view, min(remaining, _BUFFER_BYTES))
                    if not count:
                        raise ConnectionError("the camera closed the connection")
                    if sink is None:
                        collected += view[:count]
                    else:
                        sink.write(view[:count])
                    remaining -= count
            elif kind == 7:  # OperationResponse: code, transaction id, parameters
                body = self._exact(sock, length - _HEADER.size)
                (code,) = struct.unpack_from("<H", body)
                if code != _OK:
                    raise RuntimeError(f"operation 0x{opcode:04X} answered 0x{code:04X}")
                return bytes(collected)
            else:  # StartData (its total length is not needed) and anything else
                self._exact(sock, length - _HEADER.size)

    # -- operations ------------------------------------------------------------------------------

    def transact(self, opcode: int, *params: int) -> bytes:
        return self._run(opcode, params, None)

    def get_property(self, code: int) -> bytes:
        return self._run(_GET_DEVICE_PROP_VALUE, (code,), None)

    def download(self, handle: int, path: str | os.PathLike[str], *, fsync: bool) -> None:
        with open(path, "xb") as file:  # a new file: never a truncate (see ptpip.py)
            self._run(_GET_OBJECT, (handle,), file)
            if fsync:
                file.flush()
                os.fsync(file.fileno())
