"""A local Salesforce REST API stand-in over HTTPS, for ``orderclock dev`` and the tests.

It speaks the part of Salesforce's REST API the shop flow uses, as simple-salesforce calls
it: create (``POST /services/data/vNN.N/sobjects/<Type>/``), upsert by external id
(``PATCH .../sobjects/<Type>/<Field>/<value>``: 201 created, 200 updated, both with the
record's ``id``), update and read by Id or external id, and SOQL queries of the form
``SELECT a, b FROM Type [WHERE f = 'v' [AND g = 'w']] [LIMIT n]``. Every API call needs
``Authorization: Bearer <token>``; a wrong one gets Salesforce's 401
``INVALID_SESSION_ID``. Record Ids look like Salesforce's (``006...`` for opportunities).

simple-salesforce only speaks https, so the server has a certificate: :func:`make_certificates`
issues one for 127.0.0.1 and localhost from a fresh CA (trustme) and writes the CA bundle
that clients trust (``ORDERCLOCK_SALESFORCE_CA_BUNDLE``).

For outage tests, ``StandIn.outage = True`` answers every API call 503
``SERVER_UNAVAILABLE``; stopping it refuses connections. ``GET /_standin/health`` answers
200 without a token (the dev supervisor's readiness probe).

Command line (``orderclock dev`` starts exactly this)::

    python -m devstack.salesforce_standin --port 8430 --state-dir .orderclock/salesforce --token T

It writes ``ca.pem`` into the state dir, keeps its records in ``records.json`` there (so a
restart keeps them), prints ``salesforce stand-in listening on https://127.0.0.1:8430`` and
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

READY_PREFIX = "salesforce stand-in listening on "
HEALTH_PATH = "/_standin/health"
# Salesforce's key prefixes of the objects the shop flow writes; others get "a00".
KEY_PREFIXES = {"Account": "001", "Opportunity": "006", "Quote": "0Q0", "Order": "801"}
_API = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)/(?P<rest>.*)$")
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<type>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE,
)
_CONDITION = re.compile(r"^\s*(\w+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*$")


@dataclass(frozen=True)
class Certificates:
    """The stand-in's certificate chain and key, and the CA bundle its clients trust."""

    ca_bundle: Path
    cert_chain: Path
    private_key: Path


def make_certificates(directory: Path) -> Certificates:
    """A fresh CA and a server certificate for 127.0.0.1 and localhost, written as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    certs = Certificates(
        directory / "ca.pem", directory / "server-chain.pem", directory / "server-key.pem"
    )
    ca.cert_pem.write_to_path(str(certs.ca_bundle))
    server.private_key_pem.write_to_path(str(certs.private_key))
    with certs.cert_chain.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    certs.private_key.chmod(0o600)
    return certs


class ApiError(Exception):
    """An error answer in Salesforce's shape: ``[{"message", "errorCode"}]``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class StandIn:
    """The stand-in's records and rules; :meth:`serve` puts them behind HTTPS."""

    def __init__(self, token: str, state_file: Path | None = None) -> None:
        self.token = token
        self.state_file = state_file
        self.outage = False
        # 204 without a body for an upsert that updates: how API versions before 46.0 answer.
        self.legacy_upserts = False
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._counter = 0
        if state_file is not None and state_file.exists():
            saved = json.loads(state_file.read_text())
            self._records, self._counter = saved["records"], saved["counter"]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- records ------------------------------------------------------------------------

    def records(self, sobject: str) -> list[dict[str, Any]]:
        """Every record of a type (copies)."""
        with self._lock:
            return [dict(r) for r in self._records.get(sobject, {}).values()]

    def _new_id(self, sobject: str) -> str:
        self._counter += 1
        prefix = KEY_PREFIXES.get(sobject, "a00")
        return f"{prefix}{self._counter:012d}AAA"

    def _save(self) -> None:
        if self.state_file is not None:
            data = {"records": self._records, "counter": self._counter}
            temporary = self.state_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(data))
            temporary.replace(self.state_file)

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        with self._lock:
            record_id = self._new_id(sobject)
            self._records.setdefault(sobject, {})[record_id] = {**fields, "Id": record_id}
            self._save()
            return record_id

    def upsert(
        self, sobject: str, field: str, value: str, fields: dict[str, Any]
    ) -> tuple[str, bool]:
        """Create or update the record whose ``field`` is ``value``; (Id, created)."""
        if field in fields and fields[field] != value:
            raise ApiError(400, "INVALID_FIELD", f"{field} in the body differs from the URL")
        with self._lock:
            table = self._records.setdefault(sobject, {})
            matches = [r for r in table.values() if r.get(field) == value]
            if len(matches) > 1:
                raise ApiError(300, "MULTIPLE_CHOICES", f"{len(matches)} records have {field}")
            if matches:
                matches[0].update(fields)
                self._save()
                return str(matches[0]["Id"]), False
            record_id = self._new_id(sobject)
            table[record_id] = {**fields, field: value, "Id": record_id}
            self._save()
            return record_id, True

    def find(self, sobject: str, key: str, value: str | None = None) -> dict[str, Any]:
        """The record by Id (``value`` None) or by external id field ``key`` = ``value``."""
        with self._lock:
            table = self._records.get(sobject, {})
            if value is None and key in table:
                return dict(table[key])
            if value is not None:
                for record in table.values():
                    if record.get(key) == value:
                        return dict(record)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            record = self._records.get(sobject, {}).get(record_id)
            if record is None:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            record.update(fields)
            self._save()

    def query(self, soql: str) -> dict[str, Any]:
        """Run the small SOQL subset this stand-in understands."""
        match = _SOQL.match(soql)
        if match is None:
            raise ApiError(400, "MALFORMED_QUERY", f"unsupported query: {soql[:200]}")
        fields = [f.strip() for f in match["fields"].split(",")]
        conditions: list[tuple[str, str]] = []
        if match["where"]:
            for part in re.split(r"\s+AND\s+", match["where"], flags=re.IGNORECASE):
                condition = _CONDITION.match(part)
                if condition is None:
                    raise ApiError(400, "MALFORMED_QUERY", f"unsupported condition: {part}")
                conditions.append((condition[1], condition[2].replace("\\'", "'")))
        sobject = match["type"]
        rows = [r for r in self.records(sobject) if all(r.get(k) == v for k, v in conditions)]
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        records = [
            {"attributes": {"type": sobject}, **{f: row.get(f) for f in fields}} for row in rows
        ]
        return {"totalSize": len(records), "done": True, "records": records}

    # ----- HTTP -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> tuple[int, Any]:
        """One request: (status, JSON body or None)."""
        url = urlsplit(target)
        if url.path == HEALTH_PATH:
            return 200, {"status": "ok"}
        self.requests.append((method, url.path))
        if self.outage:
            raise ApiError(503, "SERVER_UNAVAILABLE", "the stand-in is in an outage")
        if authorization != f"Bearer {self.token}":
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        api = _API.match(url.path)
        if api is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        rest = [unquote(p) for p in api["rest"].rstrip("/").split("/")]
        if rest[0] == "query" and method == "GET":
            soql = parse_qs(url.query).get("q", [""])[0]
            return 200, self.query(soql)
        if rest[0] != "sobjects" or len(rest) < 2:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        sobject, keys = rest[1], rest[2:]
        fields = self._fields(body) if method in ("POST", "PATCH") else {}
        if method == "POST" and not keys:
            return 201, {"id": self.create(sobject, fields), "success": True, "errors": []}
        if method == "PATCH" and len(keys) == 2:
            record_id, created = self.upsert(sobject, keys[0], keys[1], fields)
            if not created and self.legacy_upserts:
                return 204, None
            answer = {"id": record_id, "success": True, "errors": [], "created": created}
            return (201 if created else 200), answer
        if method == "PATCH" and len(keys) == 1:
            self.update(sobject, keys[0], fields)
            return 204, None
        if method == "GET" and len(keys) in (1, 2):
            found = self.find(sobject, keys[0], keys[1] if len(keys) == 2 else None)
            return 200, {"attributes": {"type": sobject}, **found}
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not supported here")

    @staticmethod
    def _fields(body: bytes) -> dict[str, Any]:
        try:
            fields = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "JSON_PARSER_ERROR", "the body is not JSON") from None
        if not isinstance(fields, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "the body is not a JSON object")
        return fields

    def serve(self, certs: Certificates, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve HTTPS in a background thread; the instance URL (``https://host:port``)."""
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, payload = standin.handle(
                        self.command, self.path, self.headers.get("Authorization", ""), body
                    )
                except ApiError as err:
                    status, payload = err.status, [{"message": err.message, "errorCode": err.code}]
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certs.cert_chain), str(certs.private_key))
        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return f"https://{host}:{server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving (connections are refused from now on)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.salesforce_standin",
        description="A local Salesforce REST API stand-in over HTTPS.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8430)
    parser.add_argument("--state-dir", type=Path, default=Path(".orderclock") / "salesforce")
    parser.add_argument("--token", required=True, help="the access token clients must send")
    args = parser.parse_args(argv)
    certs = make_certificates(args.state_dir)
    standin = StandIn(args.token, args.state_dir / "records.json")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = standin.serve(certs, args.host, args.port)
    print(f"{READY_PREFIX}{url}", flush=True)
    while not stop.wait(0.5):
        pass
    standin.stop()
    print("salesforce stand-in stopped", flush=True)


if __name__ == "__main__":
    main()
