"""The initial migration builds exactly the tables the models describe, on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from db.engine import make_engine
from db.migrate import alembic_config, current_revision, head_revision, schema_diff, upgrade
from db.tables import TABLES as MODELS

TABLES = {str(model.__tablename__) for model in MODELS}


def test_migration_creates_the_tables(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == TABLES | {"alembic_version"}
    assert current_revision(engine) == head_revision()
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("orders")}
    for column in ("flow", "status", "customer_id", "created_at"):
        assert (column,) in indexed
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("transitions")}
    assert ("order_id", "seq") in uniques
    key_uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("api_keys")}
    assert {("name",), ("key_hash",)} <= key_uniques


def test_models_and_migrations_agree(engine: Engine) -> None:
    assert schema_diff(engine) == []


def test_schema_diff_sees_drift(blank_database_url: str) -> None:
    upgrade(blank_database_url)
    engine = make_engine(blank_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("DROP INDEX ix_orders_flow"))
        diff = schema_diff(engine)
    finally:
        engine.dispose()
    assert [entry[0] for entry in diff] == ["add_index"]
    assert diff[0][1].name == "ix_orders_flow"


def test_downgrade_to_base_and_upgrade_again(blank_database_url: str) -> None:
    upgrade(blank_database_url)
    command.downgrade(alembic_config(blank_database_url), "base")
    engine = make_engine(blank_database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
        assert current_revision(engine) is None
        upgrade(blank_database_url)
        assert current_revision(engine) == head_revision()
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    assert current_revision(engine) == head_revision()
