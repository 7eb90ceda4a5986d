"""The ceiling of the connections benchmark: a WSGI app that reads the whole request body,
discards it and answers a small JSON object, served by the same server with the same
options as the product. Whatever the product does beyond this costs throughput."""


def application(environ, start_response):
    stream = environ["wsgi.input"]
    while stream.read(65536):
        pass
    body = b'{"accepted": 0}'
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
