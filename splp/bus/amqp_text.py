"""AMQP short strings and table keys that are not UTF-8 must not kill a consumer.

RabbitMQ passes a message's short strings (routing key, ``message_id``,
``correlation_id``, ``reply_to``, ``type``, ...) and its header names through without
checking their encoding. pamqp decodes them as strict UTF-8, and one invalid byte ends
aiormq's frame reader: the connection drops, the unacknowledged message is delivered
again on the next connection and drops that one too, forever. A single malformed
message would stall the audit sink or an adapter for good.

:func:`tolerate_invalid_utf8` makes the decoder replace invalid bytes by U+FFFD instead,
so the message reaches the consumer, which can judge it (the audit sink stores it as an
undecodable event; an adapter answers or drops it) and acknowledge it. It patches
pamqp's decoder tables once per process; every broker connection of SPLP is opened
after it (see :mod:`splp.bus.connection`).

>>> tolerate_invalid_utf8()
>>> from pamqp import decode
>>> decode.by_type(b"\\x03a\\xffb", "shortstr")
(4, 'a\\ufffdb')
"""

from __future__ import annotations

import struct

from pamqp import common, decode


def _short_str(value: bytes) -> tuple[int, str]:
    try:
        length = common.Struct.byte.unpack(value[0:1])[0]
    except (struct.error, TypeError) as err:
        raise ValueError("Could not unpack short string value") from err
    return length + 1, value[1 : length + 1].decode("utf-8", errors="replace")


def _field_table(value: bytes) -> tuple[int, common.FieldTable]:
    # pamqp's field_table, with the names decoded leniently
    try:
        length = common.Struct.integer.unpack(value[0:4])[0]
        offset, end = 4, 4 + length
        if end > len(value):
            raise ValueError("Field table length exceeds available data")
        data: common.FieldTable = {}
        while offset < end:
            key_length = common.Struct.byte.unpack_from(value, offset)[0]
            offset += 1
            if offset + key_length > end:
                raise ValueError("Field table key length exceeds data")
            key = value[offset : offset + key_length].decode("utf-8", errors="replace")
            offset += key_length
            consumed, result = decode.embedded_value(value[offset:])
            offset += consumed
            data[key] = result
        return end, data
    except (struct.error, TypeError) as err:
        raise ValueError("Could not unpack data") from err


def tolerate_invalid_utf8() -> None:
    """Decode AMQP short strings and table names leniently (idempotent)."""
    decode.METHODS["shortstr"] = _short_str
    decode.METHODS["table"] = _field_table
    decode.TABLE_MAPPING[b"F"] = _field_table
