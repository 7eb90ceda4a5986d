"""The ceilings of the entitlement benchmark: the smallest ASGI and WSGI applications,
answering every request with a fixed JSON body, served by granian like the product.
Whatever the product does beyond this costs throughput."""

BODY = b'{"ok":true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(name.lower().encode(), value.encode()) for name, value in HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def wsgi(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
