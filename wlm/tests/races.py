"""Parallel writers for the race tests: each in its own thread and database connection,
released together by a barrier."""

import json
import threading
import urllib.error
import urllib.request

from django.db import close_old_connections, connection


def race(target, arguments):
    """Run ``target(*args)`` for each args at once; the outcomes, in order."""
    barrier = threading.Barrier(len(arguments))
    outcomes = [None] * len(arguments)

    def run(index, args):
        try:
            barrier.wait()
            outcomes[index] = target(*args)
        except Exception as error:
            outcomes[index] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def post_json(url: str, token: str, body: dict) -> tuple[int, dict]:
    """POST ``body`` to a live server as the token's user: the status and the JSON."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
