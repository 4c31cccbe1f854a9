"""Tokens never stall the event loop (connectors/auth.py): the simulator's client-credentials request is
async, one per tenant however many of its requests ask at once, refused as azure-identity refuses; a
synchronous credential's token, once answered in a worker thread, is handed out again without one."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError

from connectors.auth import GRAPH_SCOPE, SimulatorCredential, StaticTokenCredential, ThreadedCredential
from settings import DEMO_GRAPH_CLIENT_ID
from simulator import demo

CLIENTS = {c.display_name: c.tenant_id for c in demo.client_tenants()}
CONSENTED = CLIENTS["Southridge Video"]
UNCONSENTED = CLIENTS["Graphic Design Institute"]


def _tokens_asked(sim) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return httpx.get(f"{sim.url}/_sim/stats").json()["tokens"]


def test_a_tenants_concurrent_requests_share_one_token_request(sim):
    credential = SimulatorCredential(sim.url, CONSENTED, DEMO_GRAPH_CLIENT_ID)

    async def ask_at_once() -> list[str]:
        tokens = await asyncio.gather(*(credential.get_token(GRAPH_SCOPE) for _ in range(20)))
        return [t.token for t in tokens]

    assert len(set(asyncio.run(ask_at_once()))) == 1
    assert _tokens_asked(sim) == {CONSENTED: 1}


def test_the_simulators_token_is_kept_across_event_loops(sim):
    credential = SimulatorCredential(sim.url, CONSENTED, DEMO_GRAPH_CLIENT_ID)
    first = asyncio.run(credential.get_token(GRAPH_SCOPE))
    assert asyncio.run(credential.get_token(GRAPH_SCOPE)) is first  # each cycle runs its own loop
    assert _tokens_asked(sim) == {CONSENTED: 1}


def test_an_unconsented_tenant_is_refused_with_entras_answer(sim):
    credential = SimulatorCredential(sim.url, UNCONSENTED, DEMO_GRAPH_CLIENT_ID)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        asyncio.run(credential.get_token(GRAPH_SCOPE))


def test_an_unreachable_token_endpoint_is_a_client_authentication_error():
    credential = SimulatorCredential("http://127.0.0.1:9", CONSENTED, DEMO_GRAPH_CLIENT_ID)
    with pytest.raises(ClientAuthenticationError, match="token request failed"):
        asyncio.run(credential.get_token(GRAPH_SCOPE))


class ThreadRecordingCredential:
    """A synchronous credential recording the thread of every call."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def get_token(self, *scopes, **kwargs):  # type: ignore[no-untyped-def]
        self.threads.append(threading.get_ident())
        return StaticTokenCredential(CONSENTED).get_token(*scopes)


def test_a_synchronous_credentials_token_is_handed_out_again_without_a_thread():
    inner = ThreadRecordingCredential()
    credential = ThreadedCredential(inner)

    async def ask() -> None:
        for _ in range(5):
            await credential.get_token(GRAPH_SCOPE, claims=None, enable_cae=True)

    asyncio.run(ask())
    assert len(inner.threads) == 1 and inner.threads[0] != threading.get_ident()


def test_a_claims_challenge_always_asks_the_credential():
    inner = ThreadRecordingCredential()
    credential = ThreadedCredential(inner)

    async def ask() -> None:
        await credential.get_token(GRAPH_SCOPE, enable_cae=True)
        await credential.get_token(GRAPH_SCOPE, claims='{"access_token":{}}', enable_cae=True)

    asyncio.run(ask())
    assert len(inner.threads) == 2
