# SPDX-License-Identifier: GPL-2.0 OR MIT
"""The control protocol's framing for the tests' Python peers (protocol.md)."""
import os
import socket
import struct


def tlv(t, v):
    return struct.pack(">HH", t, len(v)) + v


def frame(typ, body):
    return struct.pack(">IB", len(body) + 1, typ) + body


def hello(node, nmm=1, session=0):
    """HELLO of version 3 from node to NMM nmm (a fresh nonce)."""
    return frame(1, tlv(1, b"\3") + tlv(2, struct.pack(">I", node)) +
                 tlv(3, struct.pack(">I", nmm)) + tlv(4, os.urandom(32)) +
                 tlv(20, b"\0" * 4) + tlv(12, b"\0" * 4) + tlv(21, struct.pack(">Q", 1)) +
                 tlv(22, struct.pack(">I", session)))


def recv_frame(s):
    """One frame's body (type byte first), b"" if the peer closed."""
    hdr = s.recv(4, socket.MSG_WAITALL)
    if len(hdr) < 4:
        return b""
    return s.recv(struct.unpack(">I", hdr)[0], socket.MSG_WAITALL)


def parse(body):
    """(type, {tlv type: value}) of a frame's body."""
    tlvs, i = {}, 1
    while i < len(body):
        t, n = struct.unpack(">HH", body[i:i + 4])
        tlvs[t] = body[i + 4:i + 4 + n]
        i += 4 + n
    return body[0], tlvs
