"""Three processes starting together on a new database all get their tables."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from actions import storage
from actions.storage import create_tables, metadata, new_engine


def racing_create_all(tables, rival_engine):
    """create_all that loses the race once: another process creates the tables after this one
    checked for them and before its CREATE TABLE (what the web server saw in a benchmark run)."""
    real = tables.create_all
    lost = []

    def create_all(bind, **kwargs):
        if not lost:
            lost.append(True)
            real(rival_engine)
            return real(bind, checkfirst=False)  # CREATE TABLE on a table that now exists
        return real(bind, **kwargs)

    return create_all


def test_losing_the_creation_race_is_not_an_error(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine, rival = new_engine(url), new_engine(url)
    monkeypatch.setattr(metadata, "create_all", racing_create_all(metadata, rival))
    with pytest.raises(OperationalError, match="already exists"):
        create_tables(metadata, engine, attempts=1)  # what a single try did before
    monkeypatch.setattr(metadata, "create_all", racing_create_all(metadata, rival))
    create_tables(metadata, engine)
    assert "requests" in inspect(engine).get_table_names()


def test_other_database_errors_still_fail(tmp_path, monkeypatch):
    engine = new_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setattr(storage.time, "sleep", lambda _s: None)
    calls = []

    def broken(bind, **kwargs):
        calls.append(1)
        raise OperationalError("CREATE TABLE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(metadata, "create_all", broken)
    with pytest.raises(OperationalError, match="disk I/O"):
        create_tables(metadata, engine, attempts=3)
    assert len(calls) == 3
