"""CloudWatch over the Smithy RPC v2 CBOR protocol, which the Rust SDK speaks and moto does not.

The SDK sends `POST /service/GraniteServiceVersion20100801/operation/<Operation>` with a CBOR
body (`smithy-protocol: rpc-v2-cbor`); moto's CloudWatch answers the JSON protocol. This
translates the request to JSON (timestamps, CBOR tag 1, become epoch seconds), hands it to
moto's own handler, and translates the answer back to CBOR, tagging the members botocore's model
of the operation says are timestamps. Errors keep their `__type`. A small CBOR codec is here
(RFC 8949: the types the protocol uses) so the emulator needs no other package.
"""

import json
import struct

import moto.cloudwatch.urls as cloudwatch_urls
from botocore.session import Session
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.utils import normalize_request
from werkzeug.test import EnvironBuilder

TARGET = "GraniteServiceVersion20100801"
_MODEL = Session().get_service_model("cloudwatch")


class Tag:
    """A CBOR tag (1: epoch-based date/time)."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def _head(major, length):
    if length < 24:
        return bytes([major << 5 | length])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if length < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, length)
    raise ValueError("too long")


def encode(value):
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, Tag):
        return _head(6, value.tag) + encode(value.value)
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode()
        return _head(3, len(data)) + data
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    raise TypeError(f"no CBOR for {type(value)}")


def decode(data):
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes")
    return value


def _decode(data, at):
    initial = data[at]
    major, info = initial >> 5, initial & 0x1F
    at += 1
    if major == 7:
        if info in (20, 21, 22, 23):
            return {20: False, 21: True, 22: None, 23: None}[info], at
        size, fmt = {25: (2, ">e"), 26: (4, ">f"), 27: (8, ">d")}[info]
        return struct.unpack(fmt, data[at:at + size])[0], at + size
    if info == 31:  # indefinite length
        items = []
        while data[at] != 0xFF:
            item, at = _decode(data, at)
            items.append(item)
        at += 1
        if major == 2:
            return b"".join(items), at
        if major == 3:
            return "".join(items), at
        if major == 4:
            return items, at
        return dict(zip(items[::2], items[1::2])), at
    if info < 24:
        length = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        length = int.from_bytes(data[at:at + size], "big")
        at += size
    if major == 0:
        return length, at
    if major == 1:
        return -1 - length, at
    if major == 2:
        return bytes(data[at:at + length]), at + length
    if major == 3:
        return data[at:at + length].decode(), at + length
    if major == 4:
        items = []
        for _ in range(length):
            item, at = _decode(data, at)
            items.append(item)
        return items, at
    if major == 5:
        mapping = {}
        for _ in range(length):
            key, at = _decode(data, at)
            mapping[key], at = _decode(data, at)
        return mapping, at
    value, at = _decode(data, at)
    return (value if length == 1 else Tag(length, value)), at  # a date/time is its epoch seconds


def _tagged(shape, value):
    """`value` (from JSON) with the timestamps `shape` names as CBOR tag 1."""
    if value is None or shape is None:
        return value
    if shape.type_name == "timestamp":
        return Tag(1, float(value))
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _tagged(shape.members.get(k), v) for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_tagged(shape.member, v) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _tagged(shape.value, v) for k, v in value.items()}
    return value


def cbor_dispatch(request, full_url, headers):
    operation = request.path.rstrip("/").rsplit("/", 1)[-1]
    params = decode(request.get_data()) if request.get_data() else {}
    forwarded = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length", "smithy-protocol")}
    forwarded["X-Amz-Target"] = f"{TARGET}.{operation}"
    forwarded["Content-Type"] = "application/x-amz-json-1.0"
    environ = EnvironBuilder(path="/", method="POST", headers=forwarded, data=json.dumps(params)).get_environ()
    environ["HTTP_HOST"] = request.host
    json_request = normalize_request(type(request)(environ))
    status, _, body = CloudWatchResponse.dispatch(json_request, full_url.split("/service/")[0] + "/", forwarded)
    answer = json.loads(body) if body else {}
    if int(status) < 300:
        output = _MODEL.operation_model(operation).output_shape
        answer = _tagged(output, answer)
    else:
        answer = {"__type": answer.get("__type", "InternalFailure"), "message": answer.get("message", "")}
    return int(status), {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, encode(answer)


cloudwatch_urls.url_paths[r"{0}/service/GraniteServiceVersion20100801/operation/(?P<operation>[A-Za-z]+)$"] = cbor_dispatch
