"""Two "machines" on one box for the multi-node tests: two network namespaces joined by a veth pair
(iproute2), each with its own address, loopback and no other route. A process started in one of
them (`Hosts.popen(i, ...)`) sees only its own namespace's network, so torchrun's rendezvous and
gloo's connections between the two travel over the veth link as they would between two hosts.

Creating namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN (root, or a privileged container);
`missing_rights()` says why not where they are lacking, for the tests' skip reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

SUBNET = "10.213.7"


@dataclass(frozen=True)
class Hosts:
    namespaces: tuple[str, str]
    interfaces: tuple[str, str]
    addresses: tuple[str, str]

    def command(self, host: int, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[host], *argv]

    def env(self, host: int, base: dict[str, str]) -> dict[str, str]:
        """gloo finds its own address through the hostname, which both namespaces share and which
        resolves to an address neither has: it is told which interface is this host's."""
        return {**base, "GLOO_SOCKET_IFNAME": self.interfaces[host]}

    def popen(self, host: int, argv: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(host, argv), env=self.env(host, env), **kwargs)


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def missing_rights() -> str | None:
    """Why two namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)"
    probe, link = f"tmtlprobe{os.getpid()}", f"tmp{os.getpid() % 100000}"
    try:
        for step in (("netns", "add", probe), ("link", "add", link, "type", "veth", "peer", "name", link + "b"),
                     ("link", "set", link, "netns", probe), ("netns", "exec", probe, "true")):
            done = _ip(*step)
            if done.returncode != 0:
                return f"'ip {' '.join(step[:2])}' is refused here: {done.stderr.strip()}"
    finally:
        _ip("netns", "del", probe)
        _ip("link", "del", link)
    return None


@contextlib.contextmanager
def two_hosts() -> Iterator[Hosts]:
    """Create the two namespaces and their link; remove them afterwards, whatever happened."""
    tag = f"{os.getpid() % 100000}"
    hosts = Hosts(
        namespaces=(f"tmtl{tag}a", f"tmtl{tag}b"),
        interfaces=(f"tm{tag}a", f"tm{tag}b"),
        addresses=(f"{SUBNET}.1", f"{SUBNET}.2"),
    )
    steps = [
        ("netns", "add", hosts.namespaces[0]),
        ("netns", "add", hosts.namespaces[1]),
        ("link", "add", hosts.interfaces[0], "type", "veth", "peer", "name", hosts.interfaces[1]),
    ]
    for host in (0, 1):
        ns, dev = hosts.namespaces[host], hosts.interfaces[host]
        steps += [
            ("link", "set", dev, "netns", ns),
            ("-n", ns, "addr", "add", f"{hosts.addresses[host]}/24", "dev", dev),
            ("-n", ns, "link", "set", dev, "up"),
            ("-n", ns, "link", "set", "lo", "up"),
        ]
    try:
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                raise RuntimeError(f"ip {' '.join(step)}: {done.stderr.strip()}")
        yield hosts
    finally:
        for ns in hosts.namespaces:  # deleting a namespace removes its end of the pair, and so the pair
            _ip("netns", "del", ns)
        _ip("link", "del", hosts.interfaces[0])  # if it never left the root namespace
