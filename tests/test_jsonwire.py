"""The packet encoding of chat/jsonwire.py: orjson, and what the standard library did."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from socketio import packet

from chat import jsonwire


@pytest.fixture(autouse=True)
def wire_json(monkeypatch):
    # The server sets this when it is built with json=jsonwire; here there is no server.
    monkeypatch.setattr(jsonwire.Packet, "json", jsonwire)


def test_a_message_encodes_as_compact_json():
    data = ["private message", {"id": 1, "content": "héllo", "to": "u1", "clientId": None}]
    encoded = jsonwire.Packet(packet.EVENT, data=data).encode()
    assert encoded == "2" + json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    "value", [2**70, {1: "int key"}, "lone \ud800 surrogate"], ids=["bigint", "key", "surrogate"]
)
def test_what_orjson_refuses_is_encoded_as_before(value):
    assert json.loads(jsonwire.dumps(value)) == json.loads(json.dumps(value))


@pytest.mark.parametrize("value", [dt.datetime(2026, 1, 1), object()], ids=["datetime", "object"])
def test_what_the_standard_library_refuses_is_refused(value):
    with pytest.raises(TypeError):
        jsonwire.dumps({"createdAt": value})


@pytest.mark.parametrize("text", ["NaN", '"\\ud800"'])
def test_json_orjson_refuses_to_read_is_read_as_before(text):
    value = jsonwire.loads(text)
    assert value == json.loads(text) or value != value  # NaN != NaN


def test_not_json_raises_value_error():
    with pytest.raises(ValueError):
        jsonwire.loads("{nope")


def test_bytes_still_make_a_binary_packet():
    pkt = jsonwire.Packet(packet.EVENT, data=["file", {"name": "a", "body": b"\x00\x01"}])
    encoded = pkt.encode()
    assert pkt.packet_type == packet.BINARY_EVENT
    assert encoded == ['51-["file",{"name":"a","body":{"_placeholder":true,"num":0}}]', b"\x00\x01"]


def test_a_binary_packet_decodes_with_its_attachment():
    pkt = jsonwire.Packet(encoded_packet='51-["file",{"_placeholder":true,"num":0}]')
    assert pkt.packet_type == packet.BINARY_EVENT
    assert pkt.add_attachment(b"\x02")
    assert pkt.data == ["file", b"\x02"]
