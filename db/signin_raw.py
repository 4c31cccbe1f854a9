"""Each sign-in's own JSON, kept compressed: the ``raw`` column of ``signins``.

A sign-in is ~4 KB of JSON, most of it the same keys and values in every sign-in, so it is stored as a
zstd frame compressed with a dictionary trained on the database's own sign-ins (~300 B each on the
seeded month, instead of ~4.5 KB). Dictionaries are kept in ``signin_dictionaries`` under the id zstd
writes into every frame's header, so each row names the dictionary it needs and old rows stay
readable after a newer dictionary is trained. Decoding gives back the exact bytes Graph sent.

* Ingest (db.signin_ingest): each sign-in's JSON is compressed with the newest dictionary
  (:func:`page_dictionary`, :func:`compressor`). A database without one trains it from the first page that has
  :data:`MIN_SAMPLES` sign-ins (a one-off ~0.4 s); a smaller first page is compressed without one.
* Retention (db.store.purge_older_than, every 6 h in the worker): :func:`maintain_dictionaries`
  trains a new dictionary from every tenant's newest sign-ins when the newest dictionary was trained
  on a first page only, or is :data:`RETRAIN_AFTER` old (sign-ins drift: new apps, policies, tenants),
  and drops the ones no kept row can still name.
* Reads: :func:`raw_json` takes any stored value: a frame, or the plain JSON text of rows written
  before compression (SQLite text, PostgreSQL bytea).

Compressor and decompressor objects are not thread-safe: each thread keeps its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import zstandard
from sqlalchemy import Connection, delete, func, insert, select

from db.models import SignIn, SignInDictionary, Tenant

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # every zstd frame starts with it; JSON never does
LEVEL = 3  # measured on the seeded month: levels 6-9 save ~10 % more for 5-10x the CPU
DICTIONARY_BYTES = 128 * 1024
MIN_SAMPLES = 200  # sign-ins to train a dictionary from (fewer: a dictionary worse than none)
TRAIN_SAMPLES = 2000  # sign-ins read back to retrain
RETRAIN_AFTER = timedelta(days=7)
NO_DICTIONARY = 0  # the dictionary id of a frame compressed without one


class UnreadableRaw(ValueError):
    """A stored value that is neither JSON nor a zstd frame this database can decode (e.g. its
    dictionary is missing)."""


# Dictionary bodies by id (an id is a hash of the content, so one id is one content in any database);
# codecs per thread.
_bodies: dict[int, bytes] = {}
_local = threading.local()


def _compressor(dict_id: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] = _local.__dict__.setdefault("compressors", {})
    found = cache.get(dict_id)
    if found is None:
        dictionary = zstandard.ZstdCompressionDict(_bodies[dict_id]) if dict_id else None
        found = cache[dict_id] = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=dictionary, write_checksum=False, write_content_size=True
        )
    return found


def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    cache: dict[int, zstandard.ZstdDecompressor] = _local.__dict__.setdefault("decompressors", {})
    found = cache.get(dict_id)
    if found is None:
        dictionary = zstandard.ZstdCompressionDict(_bodies[dict_id]) if dict_id else None
        found = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=dictionary)
    return found


def _load(conn: Connection, dict_id: int) -> bool:
    """Make the dictionary ``dict_id`` available (from the database); False when it is not there."""
    if dict_id == NO_DICTIONARY or dict_id in _bodies:
        return True
    body = conn.execute(select(SignInDictionary.body).where(SignInDictionary.dict_id == dict_id)).scalar()
    if body is None:
        return False
    _bodies[dict_id] = bytes(body)
    return True


def newest_dictionary(conn: Connection) -> tuple[int, datetime] | None:
    """(id, trained at) of the dictionary new sign-ins are compressed with, None before the first."""
    d = SignInDictionary
    row = conn.execute(
        select(d.dict_id, d.trained_at).order_by(d.trained_at.desc(), d.dict_id).limit(1)
    ).first()
    return (int(row[0]), row[1]) if row else None


def train_dictionary(conn: Connection, samples: Sequence[bytes], now: datetime) -> int:
    """Train a dictionary on ``samples`` (sign-ins' JSON), keep it, and return its id."""
    trained = zstandard.train_dictionary(DICTIONARY_BYTES, list(samples), level=LEVEL)
    dict_id = trained.dict_id()
    body = trained.as_bytes()
    if (
        conn.execute(select(SignInDictionary.dict_id).where(SignInDictionary.dict_id == dict_id)).first()
        is None
    ):
        conn.execute(
            insert(SignInDictionary).values(dict_id=dict_id, trained_at=now, samples=len(samples), body=body)
        )
    _bodies[dict_id] = body
    return dict_id


def page_dictionary(conn: Connection, samples: Callable[[], Sequence[bytes]], now: datetime) -> int:
    """The id of the dictionary a page of sign-ins is compressed with: the newest, else one trained on
    the page (``samples``: its sign-ins' JSON, asked for only then) when it has :data:`MIN_SAMPLES`
    sign-ins, else none (:data:`NO_DICTIONARY`). Its body is then loaded (:func:`dictionary_body`)."""
    newest = newest_loaded(conn)
    if newest is None:
        page = samples()
        if len(page) >= MIN_SAMPLES:
            return train_dictionary(conn, page, now)
        return NO_DICTIONARY
    return newest


def newest_loaded(conn: Connection) -> int | None:
    """The newest dictionary's id, its body loaded; None while the database has none."""
    newest = newest_dictionary(conn)
    if newest is None:
        return None
    if not _load(conn, newest[0]):  # pragma: no cover - it was just listed
        return NO_DICTIONARY
    return newest[0]


def dictionary_body(dict_id: int) -> bytes | None:
    """A loaded dictionary's body (None for :data:`NO_DICTIONARY`): what another process needs to
    compress with it (:func:`add_dictionary`)."""
    return _bodies[dict_id] if dict_id else None


def add_dictionary(dict_id: int, body: bytes | None) -> None:
    """Make a dictionary known to this process without a database (a parsing process:
    db.signin_pipeline)."""
    if dict_id and body is not None:
        _bodies.setdefault(dict_id, body)


def compressor(dict_id: int) -> Callable[[Any], bytes]:
    """Compress one sign-in's JSON with the dictionary ``dict_id`` (loaded or added before)."""
    return _compressor(dict_id).compress


def raw_json(conn: Connection, value: Any) -> bytes:
    """The sign-in's JSON, exactly as Graph sent it, from a stored ``raw`` value. Raises UnreadableRaw
    for a frame whose dictionary this database does not have."""
    if isinstance(value, str):  # written before compression (SQLite)
        return value.encode("utf-8")
    if isinstance(value, memoryview):
        value = value.tobytes()
    if not isinstance(value, bytes):
        raise UnreadableRaw(f"a stored sign-in of type {type(value).__name__}")
    if not value.startswith(ZSTD_MAGIC):  # written before compression (PostgreSQL bytea)
        return value
    try:
        dict_id = zstandard.get_frame_parameters(value).dict_id
    except zstandard.ZstdError as error:
        raise UnreadableRaw(f"a damaged compressed sign-in ({error})") from None
    if not _load(conn, dict_id):
        raise UnreadableRaw(f"a compressed sign-in needs dictionary {dict_id}, which is not in the database")
    try:
        return _decompressor(dict_id).decompress(value)
    except zstandard.ZstdError as error:
        raise UnreadableRaw(f"a damaged compressed sign-in ({error})") from None


def retrain_due(conn: Connection, now: datetime) -> bool:
    """A dictionary is due: the newest is RETRAIN_AFTER old, or it was trained on a first page only
    (one tenant's sign-ins, a poor fit for the others: ~550 B a sign-in instead of ~320 on the
    seeded month) and TRAIN_SAMPLES sign-ins are stored now."""
    d = SignInDictionary
    newest = conn.execute(
        select(d.trained_at, d.samples).order_by(d.trained_at.desc(), d.dict_id).limit(1)
    ).first()
    if newest is None:
        return False  # the first page trains one
    if now - newest[0] >= RETRAIN_AFTER:
        return True
    if newest[1] >= TRAIN_SAMPLES:
        return False
    stored = conn.execute(select(SignIn.id).limit(TRAIN_SAMPLES)).all()
    return len(stored) >= TRAIN_SAMPLES


def _recent_samples(conn: Connection) -> list[bytes]:
    """Up to TRAIN_SAMPLES of the newest sign-ins, spread over every tenant that has sign-ins (taken
    from all of them at once when no tenant is recorded)."""
    known = conn.execute(select(Tenant.tenant_id)).scalars().all()
    some = select(SignIn.id).limit(1)
    tenants = [t for t in known if conn.execute(some.where(SignIn.tenant_id == t)).first()] or [""]
    each = max(1, TRAIN_SAMPLES // len(tenants))
    samples = []
    for tenant_id in tenants:
        query = select(SignIn.raw).order_by(SignIn.created_at.desc()).limit(each)
        newest = conn.execute(query.where(SignIn.tenant_id == tenant_id) if tenant_id else query).scalars()
        for value in newest:
            try:
                samples.append(raw_json(conn, value))
            except UnreadableRaw:
                continue
    return samples[:TRAIN_SAMPLES]


def maintain_dictionaries(conn: Connection, now: datetime, kept_from: datetime) -> dict[str, int]:
    """Retention's part: a new dictionary when the newest is older than RETRAIN_AFTER (trained on the
    newest stored sign-ins), and the dictionaries no kept sign-in can name dropped. A dictionary is
    used for the rows written until the next one is trained, and those rows were all created before
    that; so once its successor was trained before ``kept_from`` (retention's cut) no row needs it."""
    trained = 0
    if retrain_due(conn, now):
        samples = _recent_samples(conn)
        if len(samples) >= MIN_SAMPLES:
            train_dictionary(conn, samples, now)
            trained = 1
    d = SignInDictionary
    dictionaries = conn.execute(select(d.dict_id, d.trained_at).order_by(d.trained_at, d.dict_id)).all()
    unneeded = [
        dict_id
        for (dict_id, _at), (_next_id, next_at) in zip(dictionaries, dictionaries[1:], strict=False)
        if next_at < kept_from
    ]
    if unneeded:
        conn.execute(delete(d).where(d.dict_id.in_(unneeded)))
        for dict_id in unneeded:
            _bodies.pop(dict_id, None)
    return {"dictionaries trained": trained, "dictionaries dropped": len(unneeded)}


def dictionary_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(SignInDictionary)).scalar() or 0)
