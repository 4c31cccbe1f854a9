"""What the alert tests share: a real HTTP receiver of Apprise's json:// webhook, a database with
findings stored the way the worker stores them, and settings with channels."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, insert

from db import write_transaction
from db.models import Tenant
from db.posture_store import store_evaluation

MSP = "4f4e31f0-e773-47c1-a231-9b911d163077"
CLIENT = "337fbe5d-0000-4000-8000-000000000001"
CLIENT_NAME = "Contoso <b>Ltd</b>"


class Receiver:
    """A local webhook: records every POST (its JSON and headers); ``fail_with`` makes it answer an error."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_with: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if receiver.fail_with:
                    self.send_response(receiver.fail_with)
                    self.end_headers()
                    return
                receiver.messages.append(json.loads(body))
                receiver.headers.append(dict(self.headers.items()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [m.get("title", "") for m in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


def add_tenants(engine: Engine, now: datetime) -> None:
    with write_transaction(engine) as conn:
        for tenant_id, name, role in ((MSP, "Northwind MSP", "msp"), (CLIENT, CLIENT_NAME, "client")):
            conn.execute(
                insert(Tenant).values(
                    tenant_id=tenant_id, display_name=name, role=role, first_seen_at=now, last_seen_at=now
                )
            )


def finding(check: str, tenant_id: str, status: str, severity: str = "critical", **evidence: Any) -> dict:
    subject = {"type": "tenant", "id": tenant_id, "name": "tenant"}
    if check == "C-1":
        subject = {"type": "apiClient", "id": "client-1", "name": "Automation"}
    return {
        "check": check,
        "tenantId": tenant_id,
        "status": status,
        "severity": severity,
        "subject": subject,
        "message": f"{check} {status}",
        "evidence": evidence,
        "fix": None,
    }


def store(engine: Engine, now: datetime, *findings: dict) -> None:
    """A posture evaluation at ``now`` with these findings (the worker's own store)."""
    with write_transaction(engine) as conn:
        store_evaluation(
            conn, evaluated_at=now, collected_at=now, raw=list(findings), with_accepted=list(findings)
        )
