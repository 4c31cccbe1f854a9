"""Sign-ins' own JSON kept compressed (db.signin_raw): exact bytes back, dictionaries versioned in the
database, old rows readable."""

import json
from datetime import datetime, timedelta

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select

from db import write_transaction
from db.models import SignIn, SignInDictionary
from db.signin_lists import signin_raw
from db.signin_raw import (
    MIN_SAMPLES,
    RETRAIN_AFTER,
    TRAIN_SAMPLES,
    UnreadableRaw,
    maintain_dictionaries,
    newest_dictionary,
    raw_json,
)
from db.store import store_signins
from support import sample

NOW = datetime(2026, 11, 21, 12, 0)
SAMPLE = "signins_beta_list_ex1_password_failure_50126.response.json"


def _signin(i: int, **changes: object) -> bytes:
    obj = dict(sample(SAMPLE)["value"][0])
    obj.update(id=f"00000000-0000-0000-0000-{i:012d}", createdDateTime="2026-11-21T10:00:00Z", **changes)
    obj["userPrincipalName"] = f"user{i % 37}@contoso.com"
    return json.dumps(obj).encode()


def _store(engine, signins: list[bytes]) -> None:
    with write_transaction(engine) as conn:
        store_signins(conn, "t1", signins)


def _stored(engine, signin_id: str):
    with engine.connect() as conn:
        return conn.execute(select(SignIn.raw).where(SignIn.id == signin_id)).scalar_one()


def _read(engine, signin_id: str) -> bytes:
    with engine.connect() as conn:
        return raw_json(conn, _stored(engine, signin_id))


def _frame_dictionary(value) -> int:
    return zstandard.get_frame_parameters(bytes(value)).dict_id


def test_a_first_page_of_enough_signins_trains_a_dictionary_its_rows_name(engine):
    _store(engine, [_signin(i) for i in range(MIN_SAMPLES)])
    with engine.connect() as conn:
        newest = newest_dictionary(conn)
    assert newest is not None
    assert _frame_dictionary(_stored(engine, "00000000-0000-0000-0000-000000000007")) == newest[0]


def test_compressed_signins_read_back_as_the_exact_bytes_sent(engine):
    page = [_signin(i) for i in range(MIN_SAMPLES)]
    _store(engine, page)
    assert _read(engine, "00000000-0000-0000-0000-000000000003") == page[3]


def test_a_compressed_signin_takes_a_fraction_of_its_json(engine):
    page = [_signin(i) for i in range(MIN_SAMPLES)]
    _store(engine, page)
    assert len(bytes(_stored(engine, "00000000-0000-0000-0000-000000000005"))) * 4 < len(page[5])


def test_a_small_first_page_is_compressed_without_a_dictionary_and_reads_back(engine):
    page = [_signin(i) for i in range(3)]
    _store(engine, page)
    with engine.connect() as conn:
        assert newest_dictionary(conn) is None
    assert _frame_dictionary(_stored(engine, "00000000-0000-0000-0000-000000000001")) == 0
    assert _read(engine, "00000000-0000-0000-0000-000000000001") == page[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=300),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
    number=st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_any_signin_round_trips_byte_for_byte(engine, text, ensure_ascii, indent, number):
    with engine.connect() as conn:
        needs_dictionary = newest_dictionary(conn) is None
    if needs_dictionary:
        _store(engine, [_signin(i) for i in range(MIN_SAMPLES)])
    with engine.connect() as conn:
        signin_id = f"h-{conn.execute(select(func.count()).select_from(SignIn)).scalar()}"
    obj = dict(sample(SAMPLE)["value"][0])
    obj.update(id=signin_id, userDisplayName=text, riskDetail=number, createdDateTime="2026-11-21T10:00:00Z")
    body = json.dumps(obj, ensure_ascii=ensure_ascii, indent=indent).encode()
    _store(engine, [body])
    assert _read(engine, signin_id) == body


def test_rows_written_before_compression_are_read_as_they_are(engine):
    body = _signin(1)
    with write_transaction(engine) as conn:
        old_value = body.decode() if conn.dialect.name == "sqlite" else body  # text; bytea on PostgreSQL
        conn.execute(insert(SignIn).values(id="old", tenant_id="t1", created_at=NOW, raw=old_value))
    assert _read(engine, "old") == body


def test_rows_compressed_with_an_older_dictionary_stay_readable_after_a_retrain(engine):
    first = [_signin(i) for i in range(MIN_SAMPLES)]
    _store(engine, first)
    with write_transaction(engine) as conn:
        older = newest_dictionary(conn)[0]
        later = older_trained = conn.execute(select(SignInDictionary.trained_at)).scalar_one()
        later = older_trained + RETRAIN_AFTER
        # new sign-ins of another shape, so the retrained dictionary differs
        store_signins(conn, "t1", [_signin(1000 + i, appDisplayName=f"App {i}") for i in range(MIN_SAMPLES)])
        result = maintain_dictionaries(conn, later, kept_from=NOW - timedelta(days=30))
        newer = newest_dictionary(conn)[0]
    assert result["dictionaries trained"] == 1 and newer != older
    assert _frame_dictionary(_stored(engine, "00000000-0000-0000-0000-000000000004")) == older
    assert _read(engine, "00000000-0000-0000-0000-000000000004") == first[4]


def test_a_dictionary_is_dropped_only_once_its_successor_is_older_than_the_retention_cut(engine):
    with write_transaction(engine) as conn:
        for dict_id, trained in ((101, NOW - timedelta(days=40)), (102, NOW - timedelta(days=20))):
            conn.execute(
                insert(SignInDictionary).values(dict_id=dict_id, trained_at=trained, samples=1, body=b"x")
            )
        kept = maintain_dictionaries(conn, NOW, kept_from=NOW - timedelta(days=30))
        dropped = maintain_dictionaries(conn, NOW, kept_from=NOW - timedelta(days=10))
        left = conn.execute(select(SignInDictionary.dict_id)).scalars().all()
    assert kept["dictionaries dropped"] == 0  # rows written until day -20 may still need 101
    assert dropped["dictionaries dropped"] == 1 and left == [102]


def test_a_frame_whose_dictionary_is_missing_is_unreadable_with_a_clear_message(engine):
    elsewhere = zstandard.train_dictionary(8192, [_signin(i, appDisplayName=f"X{i}") for i in range(300)])
    frame = zstandard.ZstdCompressor(dict_data=elsewhere).compress(_signin(1))
    with engine.connect() as conn, pytest.raises(UnreadableRaw, match="dictionary .* not in the database"):
        raw_json(conn, frame)


def test_the_drill_down_shows_an_unreadable_signin_as_empty_instead_of_failing(engine):
    elsewhere = zstandard.train_dictionary(8192, [_signin(i, appDisplayName=f"Y{i}") for i in range(300)])
    frame = zstandard.ZstdCompressor(dict_data=elsewhere).compress(_signin(2))
    with write_transaction(engine) as conn:
        conn.execute(insert(SignIn).values(id="lost", tenant_id="t1", created_at=NOW, raw=frame))
    with engine.connect() as conn:
        assert signin_raw(conn, "lost") == ("t1", {})


def test_a_first_page_dictionary_is_retrained_on_every_tenant_once_enough_signins_are_stored(engine):
    _store(engine, [_signin(i) for i in range(MIN_SAMPLES)])
    with write_transaction(engine) as conn:
        now = conn.execute(select(SignInDictionary.trained_at)).scalar_one() + timedelta(hours=6)
        early = maintain_dictionaries(conn, now, kept_from=NOW - timedelta(days=30))
        first = newest_dictionary(conn)[0]
        for start in range(MIN_SAMPLES, TRAIN_SAMPLES, 500):
            page = [_signin(i, appDisplayName=f"App {i % 9}") for i in range(start, start + 500)]
            store_signins(conn, "t1", page)
        later = maintain_dictionaries(conn, now, kept_from=NOW - timedelta(days=30))
        trained = conn.execute(
            select(SignInDictionary.samples).order_by(SignInDictionary.trained_at)
        ).scalars()
        assert newest_dictionary(conn)[0] != first
    assert early["dictionaries trained"] == 0 and later["dictionaries trained"] == 1
    assert list(trained)[-1] == TRAIN_SAMPLES
