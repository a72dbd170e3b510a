"""Starts a response and then waits (like SSE before its first event) until the client goes."""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    while (await receive())["type"] != "http.disconnect":
        pass
