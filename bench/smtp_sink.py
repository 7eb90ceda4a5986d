"""An SMTP server that accepts and counts messages (aiosmtpd), in its own process so that
it does not share the notifier's CPU time; ``bench/notices_pass.py`` starts it.

Prints ``listening <port>`` when ready; on SIGTERM prints ``accepted <n>`` and exits.
"""

import logging
import signal
import socket
import sys
import threading

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope):
        self.accepted += 1
        return "250 OK"


def main() -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"listening {port}", flush=True)
    stop.wait()
    controller.stop()
    print(f"accepted {counter.accepted}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
