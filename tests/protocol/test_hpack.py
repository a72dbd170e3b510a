"""The compiled HPACK codec (fastcorn.protocol.hpack) against RFC 7541 and the `hpack` package.

- RFC 7541 Appendix C.2-C.6: the published blocks decode to the published fields and dynamic
  tables, and our encoder produces those same blocks;
- differential, on seeded generated header lists: our encoder's blocks decode in hpack's
  decoder and are byte for byte hpack's (where hpack's Huffman choice is also ours), hpack's
  blocks decode in ours, and both tables stay equal, through table size changes;
- hostile blocks (hand-written and generated): the same result or the same exception class
  as hpack, whose classes h2 maps to its connection errors;
- an h2 server connection with install() talks to an h2 client connection.
"""

from __future__ import annotations

import random
import tracemalloc

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
import pytest
from hpack import HeaderTuple, NeverIndexedHeaderTuple

from fastcorn.protocol import hpack as fast

# -- RFC 7541 Appendix C -----------------------------------------------------------------------

REQUESTS = [
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
     (b":authority", b"www.example.com")],
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
     (b":authority", b"www.example.com"), (b"cache-control", b"no-cache")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/index.html"),
     (b":authority", b"www.example.com"), (b"custom-key", b"custom-value")],
]  # fmt: skip
REQUEST_TABLES = [
    ([(b":authority", b"www.example.com")], 57),
    ([(b"cache-control", b"no-cache"), (b":authority", b"www.example.com")], 110),
    ([(b"custom-key", b"custom-value"), (b"cache-control", b"no-cache"),
      (b":authority", b"www.example.com")], 164),
]  # fmt: skip
C3_BLOCKS = [  # C.3: requests without Huffman coding
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
]
C4_BLOCKS = [  # C.4: the same requests with Huffman coding
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]
DATE1 = b"Mon, 21 Oct 2013 20:13:21 GMT"
DATE2 = b"Mon, 21 Oct 2013 20:13:22 GMT"
LOCATION = b"https://www.example.com"
COOKIE = b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
RESPONSES = [
    [(b":status", b"302"), (b"cache-control", b"private"), (b"date", DATE1),
     (b"location", LOCATION)],
    [(b":status", b"307"), (b"cache-control", b"private"), (b"date", DATE1),
     (b"location", LOCATION)],
    [(b":status", b"200"), (b"cache-control", b"private"), (b"date", DATE2),
     (b"location", LOCATION), (b"content-encoding", b"gzip"), (b"set-cookie", COOKIE)],
]  # fmt: skip
RESPONSE_TABLES = [  # with a 256-octet table: the later responses evict
    ([(b"location", LOCATION), (b"date", DATE1), (b"cache-control", b"private"),
      (b":status", b"302")], 222),
    ([(b":status", b"307"), (b"location", LOCATION), (b"date", DATE1),
      (b"cache-control", b"private")], 222),
    ([(b"set-cookie", COOKIE), (b"content-encoding", b"gzip"), (b"date", DATE2)], 215),
]  # fmt: skip
C5_BLOCKS = [  # C.5: responses without Huffman coding
    "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a3231"
    "20474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
    "4803333037c1c0bf",
    "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a6970"
    "7738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d61"
    "67653d333630303b2076657273696f6e3d31",
]
C6_BLOCKS = [  # C.6: the same responses with Huffman coding
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad17"
    "1863c78f0b97c8e9ae82ae43d3",
    "4883640effc1c0bf",
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6"
    "c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
]


@pytest.mark.parametrize(
    ("blocks", "huffman"), [(C3_BLOCKS, False), (C4_BLOCKS, True)], ids=["C.3", "C.4"]
)
def test_rfc7541_request_examples(blocks: list[str], huffman: bool) -> None:
    encoder, decoder = fast.Encoder(), fast.Decoder()
    for block, fields, (table, size) in zip(blocks, REQUESTS, REQUEST_TABLES, strict=True):
        assert decoder.decode(bytes.fromhex(block), raw=True) == fields
        assert decoder.table_entries() == table
        assert decoder.table_size == size
        assert encoder.encode(fields, huffman=huffman) == bytes.fromhex(block)
        assert encoder.table_entries() == table
        assert encoder.table_size == size


# 256 as a size update (5-bit prefix): the RFC's examples start with that size already agreed
SIZE_UPDATE_256 = bytes.fromhex("3fe101")


@pytest.mark.parametrize(
    ("blocks", "huffman"), [(C5_BLOCKS, False), (C6_BLOCKS, True)], ids=["C.5", "C.6"]
)
def test_rfc7541_response_examples(blocks: list[str], huffman: bool) -> None:
    encoder, decoder = fast.Encoder(), fast.Decoder()
    decoder.header_table_size = 256
    encoder.header_table_size = 256
    for i, (block, fields, (table, size)) in enumerate(
        zip(blocks, RESPONSES, RESPONSE_TABLES, strict=True)
    ):
        assert decoder.decode(bytes.fromhex(block), raw=True) == fields
        assert decoder.table_entries() == table
        assert decoder.table_size == size
        expected = (SIZE_UPDATE_256 if i == 0 else b"") + bytes.fromhex(block)
        assert encoder.encode(fields, huffman=huffman) == expected
        assert encoder.table_entries() == table
        assert encoder.table_size == size


def test_rfc7541_field_representation_examples() -> None:
    """C.2: one literal of each kind and an indexed field."""
    decoder = fast.Decoder()
    (field,) = decoder.decode(
        bytes.fromhex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"), raw=True
    )
    assert field == (b"custom-key", b"custom-header") and type(field) is HeaderTuple
    assert decoder.table_entries() == [(b"custom-key", b"custom-header")]
    assert decoder.table_size == 55
    decoder = fast.Decoder()
    (field,) = decoder.decode(bytes.fromhex("040c2f73616d706c652f70617468"), raw=True)
    assert field == (b":path", b"/sample/path") and type(field) is HeaderTuple
    assert decoder.table_entries() == []  # literal without indexing
    (field,) = decoder.decode(bytes.fromhex("100870617373776f726406736563726574"), raw=True)
    assert field == (b"password", b"secret") and type(field) is NeverIndexedHeaderTuple
    assert decoder.table_entries() == []
    assert decoder.decode(b"\x82", raw=True) == [(b":method", b"GET")]
    encoder = fast.Encoder()
    assert encoder.encode([(b"password", b"secret", True)], huffman=False) == bytes.fromhex(
        "100870617373776f726406736563726574"
    )
    assert encoder.table_entries() == []


def test_decoded_types_and_str_mode_match_hpack() -> None:
    block = hpack.Encoder().encode(
        [
            (b":method", b"GET"),
            NeverIndexedHeaderTuple(b"authorization", b"x"),
            (b"custom", "caf\u00e9".encode()),
        ]  # fmt: skip
    )
    for raw in (True, False):
        ours, theirs = fast.Decoder().decode(block, raw=raw), hpack.Decoder().decode(block, raw=raw)
        assert ours == theirs
        assert [type(h) for h in ours] == [type(h) for h in theirs]
        assert [type(h[1]) for h in ours] == [type(h[1]) for h in theirs]
    with pytest.raises(hpack.HPACKDecodingError):
        fast.Decoder().decode(b"\x00\x01a\x01\xff", raw=False)  # not UTF-8


# -- differential: generated header lists -----------------------------------------------------

STATIC_NAMES = sorted({name for name, _ in fast.STATIC_TABLE})
TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789-_"
FRIENDLY = "abcdefghijklmnopqrstuvwxyz0123456789-_/.=,; "  # Huffman is never longer on these


def random_string(rng: random.Random, friendly: bool) -> bytes:
    if friendly:
        return "".join(rng.choice(FRIENDLY) for _ in range(rng.randrange(0, 24))).encode()
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))


def random_headers(rng: random.Random, friendly: bool, pool: list[tuple[bytes, bytes]]) -> list:
    """A header list mixing static names and values, repeats of earlier fields (so the
    dynamic table gets hits), new names, sensitive fields in each accepted form."""
    headers: list = []
    for _ in range(rng.randrange(0, 12)):
        roll = rng.random()
        if roll < 0.15:
            name, value = rng.choice(fast.STATIC_TABLE)
        elif roll < 0.45 and pool:
            name, value = rng.choice(pool)
        elif roll < 0.7:
            name, value = rng.choice(STATIC_NAMES), random_string(rng, friendly)
        else:
            name = "".join(rng.choice(TOKEN) for _ in range(rng.randrange(1, 16))).encode()
            value = random_string(rng, friendly)
        pool.append((name, value))
        form = rng.random()
        if form < 0.08:
            headers.append(NeverIndexedHeaderTuple(name, value))
        elif form < 0.14:
            headers.append((name, value, True))
        elif form < 0.2:
            headers.append(HeaderTuple(name, value))
        elif form < 0.25:
            headers.append((name.decode("latin-1"), value, False))
        else:
            headers.append((name, value))
    return headers


def as_pairs(headers: list) -> list[tuple[bytes, bytes]]:
    def b(x: bytes | str) -> bytes:
        return x if isinstance(x, bytes) else x.encode()

    return [(b(h[0]), b(h[1])) for h in headers]


def huffman_not_longer(headers: list) -> bool:
    return all(
        len(fast.huffman_encode_bytes(s)) <= len(s) for pair in as_pairs(headers) for s in pair
    )


@pytest.mark.parametrize("seed", range(12))
def test_our_encoder_against_hpack(seed: int) -> None:
    """Blocks from our encoder decode in hpack's decoder to the same fields, equal hpack's
    encoder's blocks whenever hpack's always-Huffman choice is also ours (else ours are
    shorter), and both encoders' tables stay equal through table size changes."""
    rng = random.Random(seed)
    ours, theirs = fast.Encoder(max_table_size=1 << 16), hpack.Encoder()
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 1 << 16
    pool: list[tuple[bytes, bytes]] = []
    friendly = seed % 3 != 0
    for _ in range(60):
        if rng.random() < 0.15:
            size = rng.choice([0, 1, 64, 100, 256, 1000, 4096, 8192])
            ours.header_table_size = size
            theirs.header_table_size = size
        headers = random_headers(rng, friendly, pool)
        huffman = rng.random() < 0.8
        block, expected = (
            ours.encode(headers, huffman=huffman),
            theirs.encode(headers, huffman=huffman),
        )
        if not huffman or huffman_not_longer(headers):
            assert block == expected
        else:
            assert len(block) <= len(expected)
        decoded = decoder.decode(block, raw=True)
        assert decoded == as_pairs(headers)
        never = [
            isinstance(h, NeverIndexedHeaderTuple) or (type(h) is tuple and len(h) > 2 and h[2])
            for h in headers
        ]
        # a sensitive field is sent never-indexed unless it is a perfect table match (hpack
        # does the same: an indexed field carries no never-indexed bit)
        for field, sensitive in zip(decoded, never, strict=True):
            if type(field) is NeverIndexedHeaderTuple:
                assert sensitive
        assert ours.table_entries() == list(theirs.header_table.dynamic_entries)
        assert ours.header_table_size == theirs.header_table_size


@pytest.mark.parametrize("seed", range(12))
def test_hpack_encoder_against_our_decoder(seed: int) -> None:
    rng = random.Random(1000 + seed)
    encoder, ours, theirs = hpack.Encoder(), fast.Decoder(), hpack.Decoder()
    for decoder in (ours, theirs):
        decoder.max_allowed_table_size = 1 << 16
    pool: list[tuple[bytes, bytes]] = []
    for _ in range(60):
        if rng.random() < 0.15:
            encoder.header_table_size = rng.choice([0, 1, 64, 256, 4096, 8192, 1 << 16])
        headers = random_headers(rng, seed % 2 == 0, pool)
        block = encoder.encode(headers, huffman=rng.random() < 0.8)
        decoded = ours.decode(block, raw=True)
        expected = theirs.decode(block, raw=True)
        assert decoded == expected == as_pairs(headers)
        assert [type(h) for h in decoded] == [type(h) for h in expected]
        assert ours.table_entries() == list(theirs.header_table.dynamic_entries)
        assert ours.table_size == theirs.header_table._current_size
        assert ours.header_table_size == theirs.header_table_size


def test_dict_headers_put_pseudo_fields_first_like_hpack() -> None:
    headers = {"x-a": "1", ":status": "200", b"x-b": b"2", "n": 3}
    assert fast.Encoder().encode(headers) == hpack.Encoder().encode(headers)


def test_huffman_is_skipped_where_it_would_be_longer() -> None:
    value = bytes(range(1, 20))  # control octets take 23-28 bits each in Huffman coding
    ours, theirs = fast.Encoder().encode([(b"x", value)]), hpack.Encoder().encode([(b"x", value)])
    assert len(ours) < len(theirs)
    assert hpack.Decoder().decode(ours, raw=True) == hpack.Decoder().decode(theirs, raw=True)


def test_table_size_changes_between_blocks_send_the_smallest_then_the_final() -> None:
    encoder, decoder = fast.Encoder(), hpack.Decoder()
    encoder.encode([(b"a", b"1"), (b"b", b"2")])
    encoder.header_table_size = 0
    encoder.header_table_size = 1000
    block = encoder.encode([(b"c", b"3")])
    assert block.startswith(b"\x20\x3f\xc9\x07")  # 0, then 1000
    decoder.decode(fast.Encoder().encode([(b"a", b"1"), (b"b", b"2")]))
    assert decoder.decode(block, raw=True) == [(b"c", b"3")]
    assert list(decoder.header_table.dynamic_entries) == [(b"c", b"3")]
    assert encoder.encode([]) == b""  # told once
    encoder.header_table_size = 1000  # no change: nothing to tell
    assert encoder.encode([]) == b""


def test_encoder_table_is_capped_whatever_the_peer_allows() -> None:
    encoder = fast.Encoder()
    encoder.header_table_size = 1 << 20  # a peer's SETTINGS_HEADER_TABLE_SIZE
    assert encoder.header_table_size == 4096
    assert encoder.encode([(b"a", b"b")]) == hpack.Encoder().encode([(b"a", b"b")])
    encoder.header_table_size = 100
    assert encoder.encode([]) == b"\x3f\x45"


# -- hostile input: the same outcome as hpack ---------------------------------------------------

HOSTILE = [
    b"\x80",  # index 0
    b"\xbe",  # index 62 with an empty dynamic table
    b"\xff\x80\x80\x80\x80\x80\x01",  # too many continuation octets
    b"\xff\xff\xff\xff\xff\x0f",  # a huge index, 5 continuation octets (allowed length)
    b"\xff",  # truncated integer
    b"\xff\x80",
    b"\x40",  # literal name missing
    b"\x40\x05ab",  # truncated name
    b"\x40\x01a",  # value missing
    b"\x40\x01a\x05abc",  # truncated value
    b"\x40\x7f\xff\xff\xff\xff\x0fa",  # a huge length
    b"\x00\x81\xff\x00",  # Huffman: 8 bits of padding
    b"\x00\x84\xff\xff\xff\xff\x00",  # Huffman: EOS in the string
    b"\x00\x81\xfe\x00",  # Huffman: padding not all ones
    b"\x00\x81\x00\x00",  # Huffman: a symbol then zero padding
    b"\x00\x80\x80",  # empty Huffman strings
    b"\x3f\xe1\x1f",  # size update above the allowed 4096
    b"\x82\x20",  # size update after a field
    b"\x20\x20\x3f\xe1\x1f",  # two updates, the second too large
    b"\x20\x82\x40\x01a\x01b\xbe",  # table emptied, then used
    b"\x7e\x01a",  # literal with indexed name 62: empty table
    b"\x0f\x2f\x01a",  # literal without indexing, name index 62
    b"\x1f\x2f\x01a",  # never indexed, name index 62
    b"\x30",  # 001 pattern: a size update of 16
    b"",
]


def outcome(decoder, block: bytes, raw: bool = True):
    try:
        result = decoder.decode(block, raw=raw)
    except Exception as error:  # the class is what is compared
        return type(error)
    return [(type(h), tuple(h)) for h in result]


@pytest.mark.parametrize("block", HOSTILE, ids=lambda b: b.hex() or "empty")
def test_hostile_blocks_fail_like_hpack(block: bytes) -> None:
    assert outcome(fast.Decoder(), block) == outcome(hpack.Decoder(), block)


def test_generated_blocks_fail_like_hpack() -> None:
    """Random bytes, and valid blocks cut short or with a flipped bit, fed to one decoder of
    each kind in sequence (so that the tables' states are compared as well)."""
    rng = random.Random(7)
    valid = [bytes.fromhex(b) for b in C3_BLOCKS + C4_BLOCKS + C5_BLOCKS + C6_BLOCKS]
    ours, theirs = fast.Decoder(), hpack.Decoder()
    for i in range(4000):
        roll = rng.random()
        if roll < 0.4:
            block = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
        else:
            block = bytearray(rng.choice(valid))
            if roll < 0.7:
                block = block[: rng.randrange(len(block))]
            else:
                bit = rng.randrange(len(block) * 8)
                block[bit // 8] ^= 1 << (bit % 8)
            block = bytes(block)
        raw = i % 5 != 0
        assert outcome(ours, block, raw) == outcome(theirs, block, raw), block.hex()
        assert ours.table_entries() == list(theirs.header_table.dynamic_entries)
        assert ours.header_table_size == theirs.header_table_size


def test_huffman_decoding_of_every_short_string_matches_hpack() -> None:
    """Every 1- and 2-octet string, and random longer ones: valid or not as hpack says."""
    from hpack.huffman_table import decode_huffman

    def result(decode, data: bytes):
        try:
            return decode(data)
        except hpack.HPACKDecodingError:
            return "error"

    rng = random.Random(3)
    samples = [bytes([a]) for a in range(256)] + [
        bytes([a, b]) for a in range(256) for b in range(256)
    ]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randrange(3, 9))) for _ in range(5000)]
    for data in samples:
        assert result(fast.huffman_decode_bytes, data) == result(decode_huffman, data), data.hex()
    for _ in range(500):
        text = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        assert fast.huffman_decode_bytes(fast.huffman_encode_bytes(text)) == text
        assert decode_huffman(fast.huffman_encode_bytes(text)) == text


def test_header_list_limit_stops_a_bomb_early() -> None:
    """One 4 KiB entry then a million references to it: refused as hpack refuses it, after
    about 16 fields rather than after inflating the whole list."""
    block = b"\x40\x01x\x7f\xa1\x1e" + b"y" * 4000 + b"\xbe" * 1_000_000
    assert outcome(hpack.Decoder(), block[:5000] + b"\xbe" * 20) is hpack.OversizedHeaderListError
    decoder = fast.Decoder()
    tracemalloc.start()
    try:
        with pytest.raises(hpack.OversizedHeaderListError):
            decoder.decode(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    decoder = fast.Decoder(max_header_list_size=100)
    with pytest.raises(hpack.OversizedHeaderListError):
        decoder.decode(hpack.Encoder().encode([(b"a", b"b" * 80)]))


def test_lowered_allowed_table_size_must_be_followed() -> None:
    """After we lower SETTINGS_HEADER_TABLE_SIZE, a block without the matching size update is
    refused (InvalidTableSizeError, as hpack)."""
    for decoder in (fast.Decoder(), hpack.Decoder()):
        decoder.max_allowed_table_size = 100
        with pytest.raises(hpack.InvalidTableSizeError):
            decoder.decode(b"\x82")
        assert decoder.decode(b"\x3f\x45\x82", raw=True) == [(b":method", b"GET")]


# -- in h2 --------------------------------------------------------------------------------------


def connection_pair(install_server: bool = True, install_client: bool = False):
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    if install_server:
        fast.install(server)
    if install_client:
        fast.install(client)
    client.initiate_connection()
    server.initiate_connection()
    return server, client


def exchange(a, b) -> list:
    """Move what ``a`` has to send into ``b``; ``b``'s events."""
    data = a.data_to_send()
    return b.receive_data(data) if data else []


def settle(server, client) -> None:
    for _ in range(3):
        exchange(client, server)
        exchange(server, client)


@pytest.mark.parametrize("install_client", [False, True], ids=["hpack-client", "fast-client"])
def test_h2_connection_with_fast_hpack(install_client: bool) -> None:
    server, client = connection_pair(install_client=install_client)
    assert isinstance(server.encoder, fast.Encoder) and isinstance(server.decoder, fast.Decoder)
    settle(server, client)
    rng = random.Random(5)
    for i in range(40):
        stream_id = client.get_next_available_stream_id()
        request = [(":method", "GET"), (":scheme", "https"), (":path", f"/item/{i % 7}"),
                   (":authority", "example.com"), ("user-agent", "test/1.0"),
                   ("cookie", "a=1"), ("cookie", f"session={rng.randrange(10**6)}"),
                   ("authorization", "Bearer secret"), ("x-count", str(i))]  # fmt: skip
        if i == 20:
            # the client shrinks its table: our encoder must say so before its next block
            client.update_settings({h2.settings.SettingCodes.HEADER_TABLE_SIZE: 64})
        client.send_headers(stream_id, request, end_stream=True)
        received = next(e for e in exchange(client, server)
                        if isinstance(e, h2.events.RequestReceived))  # fmt: skip
        headers = dict(received.headers)
        assert headers[b":path"] == f"/item/{i % 7}".encode()
        assert headers[b"x-count"] == str(i).encode()
        assert headers[b"cookie"].startswith(b"a=1; session=")
        response = [(b":status", b"200"), (b"content-type", b"text/plain"),
                    (b"content-length", b"2"), (b"x-n", str(i).encode())]  # fmt: skip
        server.send_headers(stream_id, response)
        server.send_data(stream_id, b"ok")
        server.send_headers(stream_id, [(b"x-trailer", b"t")], end_stream=True)
        events = exchange(server, client)
        kinds = [type(e) for e in events]
        assert h2.events.ResponseReceived in kinds and h2.events.TrailersReceived in kinds
        got = next(e for e in events if isinstance(e, h2.events.ResponseReceived)).headers
        assert got == response
        settle(server, client)
    assert server.encoder.header_table_size == 64


def test_h2_header_list_limit_from_settings_is_a_denial_of_service_error() -> None:
    """h2 sets the decoder's max_header_list_size from its acknowledged SETTINGS and turns
    the decoder's OversizedHeaderListError into DenialOfServiceError and a GOAWAY."""
    server, client = connection_pair()
    server.update_settings({h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 500})
    settle(server, client)
    assert server.decoder.max_header_list_size == 500
    request = [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a"),
               ("x-big", "v" * 600)]  # fmt: skip
    client.send_headers(1, request, end_stream=True)
    with pytest.raises(h2.exceptions.DenialOfServiceError):
        exchange(client, server)
    assert b"\x07" in server.data_to_send()[:4]  # a GOAWAY frame (type 7)


def test_h2_refuses_a_broken_block_as_a_protocol_error() -> None:
    server, client = connection_pair()
    settle(server, client)
    # a HEADERS frame on stream 1 whose block references index 70 of an empty table
    frame = b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\xc6"
    with pytest.raises(h2.exceptions.ProtocolError):
        server.receive_data(frame)


def test_install_keeps_what_hpack_held() -> None:
    conn = h2.connection.H2Connection()
    conn.encoder.encode([(b"x-a", b"1"), (b"x-b", b"2")])
    conn.encoder.header_table_size = 50
    conn.encoder.header_table_size = 200
    conn.decoder.decode(hpack.Encoder().encode([(b"x-c", b"3")]))
    conn.decoder.max_header_list_size = 1234
    conn.decoder.max_allowed_table_size = 2048
    reference = hpack.Encoder()
    reference.encode([(b"x-a", b"1"), (b"x-b", b"2")])
    reference.header_table_size = 50
    reference.header_table_size = 200
    fast.install(conn)
    assert isinstance(conn.encoder, fast.Encoder)
    assert conn.decoder.max_header_list_size == 1234
    assert conn.decoder.max_allowed_table_size == 2048
    assert conn.decoder.table_entries() == [(b"x-c", b"3")]
    block = conn.encoder.encode([(b"x-b", b"2"), (b"x-d", b"4")])
    assert block == reference.encode([(b"x-b", b"2"), (b"x-d", b"4")])
    fast.install(conn)  # again: nothing changes
    assert conn.decoder.table_entries() == [(b"x-c", b"3")]


def test_the_micro_benchmark_runs_every_case_once() -> None:
    """bench/hpack_micro.py (the figures quoted for this codec) keeps working."""
    from bench import hpack_micro

    for call in hpack_micro.cases().values():
        call()
