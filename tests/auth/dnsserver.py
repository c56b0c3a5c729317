"""A real authoritative DNS server on loopback (dnslib), serving zones the tests define.

UDP and TCP on the same free port, replies over 512 bytes truncated on UDP so clients must retry
over TCP like with a real server. Names can also be made to misbehave: `slow` (no reply),
`garbage` (bytes that are not DNS) and `servfail`. Every query is counted per (name, type).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

_TYPES = {"A": A, "AAAA": AAAA, "MX": MX, "PTR": PTR, "TXT": TXT, "CNAME": CNAME}


class Zones:
    """Records by (name, type); a name with any record exists, every other name is NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[RR]] = {}
        self.misbehave: dict[str, str] = {}
        self.queries: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def add(self, name: str, rtype: str, *values: object, ttl: int = 300) -> Zones:
        name = name.rstrip(".").lower()
        for value in values:
            if rtype == "TXT":
                parts = value if isinstance(value, list) else [value]
                rdata = TXT([p.encode() if isinstance(p, str) else p for p in parts])
            elif rtype == "MX":
                pref, host = value  # type: ignore[misc]
                rdata = MX(host, pref)
            else:
                rdata = _TYPES[rtype](value)
            rr = RR(name, getattr(QTYPE, rtype), rdata=rdata, ttl=ttl)
            self.records.setdefault((name, rtype), []).append(rr)
        return self

    def txt(self, name: str, *values: object, ttl: int = 300) -> Zones:
        return self.add(name, "TXT", *values, ttl=ttl)

    def remove(self, name: str) -> None:
        name = name.rstrip(".").lower()
        for key in [k for k in self.records if k[0] == name]:
            del self.records[key]

    def names(self) -> set[str]:
        return {name for name, _ in self.records}

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries[(qname, qtype)] += 1
        reply = request.reply()
        if self.misbehave.get(qname) == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        found = self.records.get((qname, qtype), [])
        cname = self.records.get((qname, "CNAME"), [])
        for rr in found or cname:
            reply.add_answer(rr)
        if cname and not found:
            target = str(cname[0].rdata.label).rstrip(".").lower()
            for rr in self.records.get((target, qtype), []):
                reply.add_answer(rr)
        if not found and not cname:
            exists = any(n == qname or n.endswith("." + qname) for n in self.names())
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            soa = SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, 60))
            reply.add_auth(RR(qname, QTYPE.SOA, rdata=soa, ttl=60))
        return reply


class _Handler(DNSHandler):
    """dnslib's own truncation drops the question, which resolvers reject: truncate here."""

    def get_reply(self, data: bytes) -> bytes:
        zones: Zones = self.server.resolver  # type: ignore[attr-defined]
        qname = str(DNSRecord.parse(data).q.qname).rstrip(".").lower()
        behaviour = zones.misbehave.get(qname)
        if behaviour == "slow":
            from dnslib.dns import DNSError

            with zones.lock:
                zones.queries[(qname, "*")] += 1
            raise DNSError("slow: no reply")
        if behaviour == "garbage":
            return data[:2] + b"\x81\x80\xff\xff\x00\x05garbage-not-dns\x00\x00"
        request = DNSRecord.parse(data)
        reply: DNSRecord = zones.resolve(request, self)
        packed: bytes = reply.pack()
        if self.protocol == "udp" and len(packed) > 512:
            short = request.reply()
            short.header.tc = 1
            packed = short.pack()
        return packed


class TestDnsServer:
    """Start/stop the UDP and TCP servers; `address` is the `host:port` for MAILBUS_DNS_SERVERS."""

    __test__ = False

    def __init__(self, zones: Zones | None = None) -> None:
        self.zones = zones or Zones()
        self.port = 0
        self._servers: list[DNSServer] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        quiet = DNSLogger("-request,-reply,-truncated,-error", prefix=False)
        for _ in range(20):
            port = _free_port()
            servers: list[DNSServer] = []
            try:
                for tcp in (False, True):
                    server = DNSServer(
                        self.zones, "127.0.0.1", port, tcp=tcp, logger=quiet, handler=_Handler
                    )
                    servers.append(server)
            except OSError:  # taken since the probe: close the UDP half that did bind
                for server in servers:
                    server.server.server_close()
                continue
            self.port, self._servers = port, servers
            for server in servers:
                serve = server.server.serve_forever
                threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, daemon=True).start()
            return
        raise RuntimeError("no free port for the test DNS server")

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
