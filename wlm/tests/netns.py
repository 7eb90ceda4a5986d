"""Network namespaces for tests (iproute2): each node gets a network stack of its own and
an address on a bridge, the test's services listen on the bridge's address in the root
namespace. Made and removed by the test; ``Unavailable`` where namespaces cannot be made
(not root, no CAP_NET_ADMIN, no ``ip``).

    root namespace: bridge wlm<pid>b, 10.231.N.1/24 (PgBouncer, SMTP, the test)
        ├── veth ── namespace wlm<pid>-a: 10.231.N.2/24
        └── veth ── namespace wlm<pid>-b: 10.231.N.3/24
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

IP = shutil.which("ip") or "/sbin/ip"


class Unavailable(Exception):
    """Network namespaces cannot be made here."""


def _ip(*args: str) -> None:
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(
            done.returncode, ["ip", *args], done.stdout, done.stderr
        )


@dataclass
class Node:
    namespace: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the node's namespace (``ip netns exec`` execs it: the
        process's id is the command's)."""
        return [IP, "netns", "exec", self.namespace, *argv]


@dataclass
class Network:
    bridge: str
    gateway: str  # the root namespace's address on the bridge, where services listen
    nodes: dict[str, Node] = field(default_factory=dict)


def _free_subnet() -> int:
    """A third octet of 10.231.N.0/24 that no interface of the root namespace uses (two
    runs at once take different ones, starting from their process ids)."""
    used = subprocess.run([IP, "-o", "-4", "addr"], capture_output=True, text=True).stdout
    start = os.getpid() % 250
    for step in range(250):
        n = (start + step) % 250 + 1
        if f"10.231.{n}." not in used:
            return n
    raise Unavailable("no free 10.231.N.0/24 subnet")


@contextlib.contextmanager
def network(*names: str) -> Iterator[Network]:
    """A bridge in the root namespace and one namespace per name, each on the bridge with
    its own address; all removed on the way out, also after a failure."""
    if not os.access(IP, os.X_OK):
        raise Unavailable("iproute2's ip is not installed")
    tag = f"wlm{os.getpid()}"
    probe = f"{tag}-probe"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as error:
        raise Unavailable(
            f"`ip netns add` failed (root or CAP_NET_ADMIN needed): {error.stderr.strip()}"
        ) from None
    _ip("netns", "del", probe)
    n = _free_subnet()
    net = Network(bridge=f"{tag}b", gateway=f"10.231.{n}.1")
    made_bridge, veths = False, []
    try:
        _ip("link", "add", net.bridge, "type", "bridge")
        made_bridge = True
        _ip("addr", "add", f"{net.gateway}/24", "dev", net.bridge)
        _ip("link", "set", net.bridge, "up")
        for index, name in enumerate(names):
            node = Node(f"{tag}-{name}", f"10.231.{n}.{index + 2}")
            _ip("netns", "add", node.namespace)
            net.nodes[name] = node
            outside, inside = f"{tag}{index}h", f"{tag}{index}n"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            veths.append(outside)
            _ip("link", "set", inside, "netns", node.namespace)
            _ip("link", "set", outside, "master", net.bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", node.namespace, "addr", "add", f"{node.address}/24", "dev", inside)
            _ip("-n", node.namespace, "link", "set", inside, "up")
            _ip("-n", node.namespace, "link", "set", "lo", "up")
        yield net
    finally:
        for node in net.nodes.values():  # its end of a veth pair goes with it
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", node.namespace)
        for outside in veths:  # gone with its peer, unless that never moved
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", outside)
        if made_bridge:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", net.bridge)
