"""How Socket.IO packets are encoded: orjson, and no walk of each payload for binary data.

``socketio.init_app(json=jsonwire, serializer=jsonwire.Packet)``. python-socketio encodes
with the standard library's ``json`` and, before encoding, walks every payload looking for
bytes; for a relayed message both cost more than the rest of the framing
(docs/performance.md). orjson encodes several times faster, and since it refuses bytes, an
encoding that succeeds proves the payload has none: the walk is only needed when it fails.

What orjson refuses and the standard library accepts (integers beyond 64 bits, non-string
keys, lone surrogates; NaN on input) goes to the standard library, so what is accepted and
what fails is as before. orjson reads an integer beyond 64 bits as a float: every schema
that takes an integer is strict and refuses both. Datetimes are refused as the standard
library refuses them: the wire carries them as strings formatted in one place
(``store.iso``), never as objects.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from socketio import packet

# Without these, orjson would encode datetimes and dataclasses in its own format.
_REFUSE_AS_STDLIB = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# The packet types that have a binary twin, and that twin.
BINARY = {packet.EVENT: packet.BINARY_EVENT, packet.ACK: packet.BINARY_ACK}


def dumps(obj: Any, **_options: Any) -> str:
    """Compact JSON text of ``obj`` (python-socketio passes ``separators=``: it is compact)."""
    try:
        return orjson.dumps(obj, option=_REFUSE_AS_STDLIB).decode()
    except TypeError:  # orjson.JSONEncodeError: what orjson refuses, try as before
        return json.dumps(obj, separators=(",", ":"))


def loads(text: str | bytes, **_options: Any) -> Any:
    """The value of the JSON ``text``; ValueError when it is not JSON."""
    try:
        return orjson.loads(text)
    except ValueError:  # orjson.JSONDecodeError: NaN or a lone surrogate, read as before
        return json.loads(text)


class Packet(packet.Packet):
    """A Socket.IO packet that looks for binary data only when JSON cannot encode it."""

    def __init__(self, packet_type=packet.EVENT, data=None, namespace=None, id=None,
                 binary=None, encoded_packet=None):  # fmt: skip
        # binary=False skips the parent's walk of ``data``; encode() finds bytes if any.
        super().__init__(
            packet_type, data, namespace, id, binary=bool(binary), encoded_packet=encoded_packet
        )

    def encode(self):
        """The encoded packet; a payload holding bytes becomes a binary packet as before."""
        try:
            return super().encode()
        except TypeError:
            if self.packet_type not in BINARY or not self.data_is_binary(self.data):
                raise
        self.packet_type = BINARY[self.packet_type]
        return super().encode()
