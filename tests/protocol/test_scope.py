"""The ASGI HTTP scope built from a request head (ASGI 3.0, HTTP spec 2.4)."""

from __future__ import annotations

import pytest
from h1util import GET, Recorder, body, parse_response, parse_responses, request, start


def scope_of(make, data: bytes, **options) -> dict:
    app = Recorder()
    h = make(app, **options)
    out = h.feed(data)
    assert parse_response(out).status == 200
    assert len(app.scopes) == 1
    return app.scopes[0]


def test_basic_scope(make):
    scope = scope_of(make, b"GET /items/1?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\n"
                           b"User-Agent: t/1\r\n\r\n")
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/items/1"
    assert scope["raw_path"] == b"/items/1"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["headers"] == [(b"host", b"example.com"), (b"user-agent", b"t/1")]
    # Files as bodies (fastcorn/asgi/files.pyx) are served on every HTTP stream.
    assert scope["extensions"] == {"http.response.pathsend": {},
                                   "http.response.zerocopysend": {}}
    assert isinstance(scope["extensions"], dict)
    assert scope["state"] == {}


def test_client_and_server_are_tuples_with_int_ports(make):
    scope = scope_of(make, GET, peer=("10.1.2.3", 41234), local=("10.0.0.1", 8080))
    assert scope["client"] == ("10.1.2.3", 41234)
    assert scope["server"] == ("10.0.0.1", 8080)
    assert type(scope["client"]) is tuple and type(scope["client"][1]) is int
    assert type(scope["server"]) is tuple and type(scope["server"][1]) is int


def test_http_10(make):
    scope = scope_of(make, b"GET / HTTP/1.0\r\n\r\n")
    assert scope["http_version"] == "1.0"


@pytest.mark.parametrize("head", [b"GET /\r\n\r\n", b"GET / HTTP/0.9\r\n\r\n",
                                  b"GET / HTTP/2.0\r\n\r\n"])
def test_http_version_is_an_asgi_value(make, head):
    # ASGI allows "1.0", "1.1" and "2" (the latter only for real HTTP/2). llhttp accepts
    # these heads; the server may refuse them, but must not hand the app "0.9" or "2.0".
    app = Recorder()
    h = make(app)
    resp = parse_responses(h.feed(head))[0]
    if app.scopes:
        assert app.scopes[0]["http_version"] in ("1.0", "1.1")
    else:
        assert resp.status in (400, 505)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                    "HEAD", "PURGE"])
def test_method(make, method):
    app = Recorder()
    h = make(app)
    out = h.feed(f"{method} / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n".encode())
    parse_responses(out, [method])
    assert app.scopes[0]["method"] == method


@pytest.mark.parametrize(("target", "path", "raw_path", "query"), [
    ("/a%20b", "/a b", b"/a%20b", b""),
    ("/caf%C3%A9", "/café", b"/caf%C3%A9", b""),
    ("/%2Fslash", "//slash", b"/%2Fslash", b""),
    ("/plain?", "/plain", b"/plain", b""),
    ("/q?a=%20&b=%C3%A9", "/q", b"/q", b"a=%20&b=%C3%A9"),
    ("/q?x=1?y=2", "/q", b"/q", b"x=1?y=2"),
    ("/", "/", b"/", b""),
])
def test_path_decoding(make, target, path, raw_path, query):
    scope = scope_of(make, request("GET", target))
    assert scope["path"] == path
    assert scope["raw_path"] == raw_path
    assert scope["query_string"] == query


def test_absolute_form_target(make):
    scope = scope_of(make, request("GET", "http://example.com/a%20b?x=1"))
    assert scope["path"] == "/a b"
    assert scope["raw_path"] == b"/a%20b"
    assert scope["query_string"] == b"x=1"


def test_asterisk_form(make):
    scope = scope_of(make, request("OPTIONS", "*"))
    assert scope["method"] == "OPTIONS"
    assert scope["path"] == "*"


def test_fragment_never_reaches_path_or_query(make):
    # A fragment is not part of a request-target (RFC 9112 3.2); llhttp lets "#" through,
    # and the server must not hand it to the app as part of the path or the query.
    scope = scope_of(make, request("GET", "/p?x=1#frag"))
    assert scope["path"] == "/p"
    assert scope["query_string"] == b"x=1"


def test_root_path_prefixes_path_and_raw_path(make):
    scope = scope_of(make, request("GET", "/a%20b?q=1"), root_path="/api")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/a b"
    assert scope["raw_path"] == b"/api/a%20b"
    assert scope["query_string"] == b"q=1"


def test_headers_lowercased_in_order_values_untouched(make):
    scope = scope_of(make, b"GET / HTTP/1.1\r\nHost: Example.COM\r\nX-Thing: A\r\n"
                           b"x-thing: b\r\nCOOKIE: a=1; B=2\r\nAccept: */*\r\n\r\n")
    assert scope["headers"] == [
        (b"host", b"Example.COM"),
        (b"x-thing", b"A"),
        (b"x-thing", b"b"),
        (b"cookie", b"a=1; B=2"),
        (b"accept", b"*/*"),
    ]
    for name, value in scope["headers"]:
        assert type(name) is bytes and type(value) is bytes


def test_known_header_names_lowercased_as_any_other(make):
    """Names the core knows (given as shared lowercase bytes) come out as bytes.lower()
    gives them; names of the same length that differ by one byte are left alone."""
    names = [b"HoSt", b"Content-TYPE", b"USER-AGENT", b"connectioN", b"Accept",
             b"Accept-Encoding", b"Expect", b"Upgrade", b"Content-Length",
             b"Hosu", b"Content-Typf", b"User-Agenu", b"Connectioo", b"Acceps",
             b"Accept-Encodinh", b"Expecu", b"Upgradf", b"Content-Lengti", b"HOST-"]
    head = b"POST / HTTP/1.1\r\n" + b"".join(n + b": v\r\n" for n in names)
    scope = scope_of(make, head.replace(b"Content-Length: v", b"Content-Length: 0")
                     .replace(b"Expect: v", b"Expect: x").replace(b"Upgrade: v", b"Upgrade: y")
                     + b"\r\n")
    assert [name for name, _ in scope["headers"]] == [n.lower() for n in names]


def test_header_value_whitespace_trimmed(make):
    scope = scope_of(make, b"GET / HTTP/1.1\r\nHost:   x  \r\nX-A:\tv\t\r\n\r\n")
    assert scope["headers"] == [(b"host", b"x"), (b"x-a", b"v")]


def test_state_is_a_shallow_copy_per_request(make):
    shared = object()
    lifespan_state = {"db": shared, "n": 1}
    scopes = []

    async def mutating(scope, receive, send):
        scopes.append(scope)
        scope["state"]["n"] += 1
        scope["state"]["new"] = True
        await send(start())
        await send(body())

    h = make(mutating, lifespan_state=lifespan_state)
    out = h.feed(GET + GET)
    assert [r.status for r in parse_responses(out)] == [200, 200]
    first, second = scopes
    assert lifespan_state == {"db": shared, "n": 1}
    assert first["state"] is not lifespan_state
    assert first["state"] is not second["state"]
    assert second["state"]["db"] is shared  # shallow: the values are the same objects
    # each request started from the lifespan state, not from the previous request's copy
    assert first["state"] == second["state"] == {"db": shared, "n": 2, "new": True}


def test_each_request_gets_its_own_scope(make):
    app = Recorder()
    h = make(app)
    out = h.feed(request("GET", "/one?a") + request("POST", "/two", headers=[
        ("host", "x"), ("content-length", "3")], body=b"abc"))
    assert [r.body for r in parse_responses(out)] == [b"", b"abc"]
    one, two = app.scopes
    assert one is not two
    assert (one["path"], one["query_string"], one["method"]) == ("/one", b"a", "GET")
    assert (two["path"], two["query_string"], two["method"]) == ("/two", b"", "POST")
    assert one["headers"] is not two["headers"]
    assert one["headers"] == [(b"host", b"example.com")]
    assert one["asgi"] is not two["asgi"]
    assert one["extensions"] is not two["extensions"]


def test_head_split_across_feeds_builds_the_same_scope(make):
    data = b"GET /sp%20lit?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Long-Header: abcdef\r\n\r\n"
    app = Recorder()
    h = make(app)
    out = b""
    for i in range(len(data)):
        out += h.feed(data[i:i + 1])
    assert parse_response(out).status == 200
    scope = app.scopes[0]
    assert scope["path"] == "/sp lit"
    assert scope["raw_path"] == b"/sp%20lit"
    assert scope["query_string"] == b"q=1"
    assert scope["headers"] == [(b"host", b"example.com"), (b"x-long-header", b"abcdef")]
