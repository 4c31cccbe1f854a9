"""Sign-in pages prepared in a parsing process and written by the caller (db.signin_pipeline) store
exactly what the one-thread path (db.store.ingest_signin_page) stores, whatever the pages hold."""

import json
import multiprocessing
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from db import open_database
from db.models import (
    SignIn,
    SignInBlock,
    SignInDictionary,
    SignInPlace,
    SignInPolicyOutcome,
    SignInRollup,
    SignInWouldBlock,
)
from db.rows import decode_signin_page
from db.signin_pipeline import SigninPipeline, spooled_bodies
from db.signin_raw import MIN_SAMPLES, raw_json
from db.store import ingest_signin_page
from support import sample

SAMPLE = "signins_beta_list_ex1_password_failure_50126.response.json"
RESULTS = [
    "notApplied",
    "success",
    "reportOnlyFailure",
    "reportOnlyInterrupted",
    "failure",
    "reportOnlySuccess",
]


def _signin(i: int) -> dict:
    obj = dict(sample(SAMPLE)["value"][0])
    obj.update(
        id=f"00000000-0000-0000-0000-{i:012d}",
        createdDateTime=f"2026-11-21T{10 + i % 3:02d}:{i % 60:02d}:00Z",
        userPrincipalName=f"user{i % 7}@contoso.com",
        appDisplayName=f"App {i % 4}",
        ipAddress=f"203.0.113.{i % 250}",
    )
    obj["status"] = {"errorCode": (0, 53003, 50126)[i % 3], "failureReason": "x"}
    obj["location"] = {
        "city": f"City {i % 5}",
        "countryOrRegion": "NL",
        "geoCoordinates": {"latitude": 52.0 + i % 5, "longitude": 4.0},
    }
    obj["appliedConditionalAccessPolicies"] = [
        {
            "id": f"policy-{p}",
            "displayName": f"Policy {p}",
            "result": RESULTS[(i + p) % 6],
            "enforcedGrantControls": ["Block"],
        }
        for p in range(3)
    ]
    return obj


def _page(objects: list) -> bytes:
    return json.dumps({"value": objects}).encode()


def _pages() -> list[bytes]:
    """A first page big enough to train the dictionary, then pages that re-read earlier sign-ins (the
    collectors' overlap), repeat one within the page, and carry objects that are not sign-ins."""
    first = [_signin(i) for i in range(MIN_SAMPLES)]
    overlap = [_signin(i) for i in range(MIN_SAMPLES - 20, MIN_SAMPLES + 80)]
    repeated = [_signin(i) for i in range(400, 450)] + [_signin(401), {"id": "", "x": 1}, "not an object"]
    fresh = [[_signin(i) for i in range(start, start + 60)] for start in range(500, 800, 60)]
    return [_page(first), _page(overlap), _page(repeated), *(_page(p) for p in fresh)]


def _contents(engine: Engine) -> dict[str, list]:
    with engine.connect() as conn:
        signins = [
            (*row[:-1], raw_json(conn, row[-1]))
            for row in conn.execute(select(*SignIn.__table__.c).order_by(SignIn.id))
        ]
        tables = {"signins": signins}
        for model in (SignInPolicyOutcome, SignInWouldBlock, SignInRollup, SignInBlock, SignInPlace):
            columns = list(model.__table__.c)
            tables[model.__tablename__] = sorted(
                (tuple(row) for row in conn.execute(select(*columns))), key=repr
            )
    return tables


@pytest.fixture
def reference(tmp_path) -> dict[str, list]:
    """The pages stored by the one-thread path."""
    engine = open_database(f"sqlite:///{tmp_path / 'reference.db'}")
    results = [ingest_signin_page(engine, "t1", decode_signin_page(body).value) for body in _pages()]
    contents = _contents(engine)
    engine.dispose()
    return {"results": results, **contents}


@pytest.fixture
def pipeline(engine) -> Iterator[SigninPipeline]:
    with SigninPipeline(engine, depth=2) as pipeline:
        yield pipeline


def test_the_pipeline_stores_what_the_one_thread_path_stores(engine, pipeline, reference):
    handles = [pipeline.submit("t1", body) for body in _pages()]
    pipeline.drain()
    assert [handle.result() for handle in handles] == reference["results"]
    contents = _contents(engine)
    for table, rows in contents.items():
        assert rows == reference[table], table
    # all but the pages submitted before the first one (which trains the dictionary) was written
    assert pipeline.parsed_elsewhere == len(handles) - (pipeline.depth + 1)
    assert contents["signin_blocks"] and contents["signin_would_block"] and contents["signin_places"]
    assert spooled_bodies() == []  # each page's body, handed over as a file, is gone once read


def test_a_database_without_a_dictionary_trains_it_from_its_first_page_and_the_rest_use_it(engine, pipeline):
    for body in _pages():
        pipeline.submit("t1", body)
    pipeline.drain()
    with engine.connect() as conn:
        assert conn.execute(select(SignInDictionary.dict_id)).scalars().all() != []
        assert len(conn.execute(select(SignInDictionary.dict_id)).scalars().all()) == 1


def test_pages_are_written_only_once_more_than_depth_wait_and_all_by_drain(engine, pipeline):
    pages = _pages()
    handles = [pipeline.submit("t1", body) for body in pages[:3]]
    assert [h.done() for h in handles] == [True, False, False]  # depth 2: the oldest went
    pipeline.drain()
    assert all(h.done() for h in handles)


def test_a_dead_parsing_process_loses_no_page(engine, pipeline, reference):
    pages = _pages()
    handles = [pipeline.submit("t1", body) for body in pages[:2]]
    pipeline.drain()
    for child in multiprocessing.active_children():  # the parsing process
        child.kill()
        child.join()
    handles += [pipeline.submit("t1", body) for body in pages[2:]]
    pipeline.drain()
    assert [handle.result() for handle in handles] == reference["results"]
    assert _contents(engine)["signins"] == reference["signins"]
    assert spooled_bodies() == []  # the dead process's unread bodies too


def test_a_page_whose_transaction_fails_fails_its_own_future_only(engine, pipeline):
    pages = _pages()
    pipeline.submit("t1", pages[0])
    pipeline.drain()
    if engine.dialect.name == "sqlite":  # SQLite takes any text: a trigger refuses this tenant's rows
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON signins WHEN NEW.tenant_id = 'bad' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        bad_tenant = "bad"
    else:
        bad_tenant = "t" * 100  # longer than the key columns take
    bad = pipeline.submit(bad_tenant, pages[3])
    good = pipeline.submit("t1", pages[4])
    pipeline.drain()
    assert good.result()[0] == 60
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error, whatever its class
        bad.result()
    with engine.connect() as conn:
        tenants = set(conn.execute(select(SignIn.tenant_id)).scalars())
    assert tenants == {"t1"}  # nothing of the failed page is left
