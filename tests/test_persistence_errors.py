"""Database errors: no statement parameters in messages; schema revisions told apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from persistence.db import make_engine
from persistence.migrate import ensure_current, upgrade
from persistence.store import SqlStore, StoreError
from tests.conftest import CARD_NUMBER, WHATSAPP_TOKEN
from workflow.adapters.vault import FernetVault
from workflow.core.errors import SchemaOutdatedError
from workflow.core.spec import parse_spec
from workflow.management.onboardings import Onboardings


def test_failed_statement_message_holds_no_parameters(database_url_for_test: str) -> None:
    """A failing statement's error names the statement, never the values bound to it."""
    engine = make_engine(database_url_for_test)
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(
            text("INSERT INTO no_such_table (name) VALUES (:name)"), {"name": "Spec Data 4242"}
        )
    engine.dispose()
    assert "Spec Data 4242" not in str(caught.value)


def test_store_error_holds_no_spec_data(
    database_url_for_test: str, secret_spec: dict[str, Any], today: Any
) -> None:
    """A failed insert of an onboarding raises StoreError without the spec's values in it."""
    engine = make_engine(database_url_for_test)
    cascade = " CASCADE" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE onboardings{cascade}"))
    store = SqlStore(engine)
    with pytest.raises(StoreError) as caught:
        Onboardings(store, FernetVault.generate()).start(parse_spec(secret_spec, today=today))
    engine.dispose()
    message = str(caught.value)
    assert "secret-spec" in message  # says which onboarding failed
    for value in (
        secret_spec["profile"]["name"], secret_spec["profile"]["description"], CARD_NUMBER,
        WHATSAPP_TOKEN,
    ):  # fmt: skip
        assert value not in message


def _at_revision(tmp_path: Path, revision: str | None) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'onboarding.db'}")
    if revision is not None:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    return engine


@pytest.mark.parametrize(
    ("revision", "expected", "advises_upgrade"),
    [
        (None, "none (empty database)", True),
        ("0999", "newer than this code", False),
        ("feature_x", "not one of this code's migrations", False),
    ],
)
def test_ensure_current_tells_older_newer_and_unknown_apart(
    tmp_path: Path, revision: str | None, expected: str, advises_upgrade: bool
) -> None:
    """Only an empty or older schema is told to run 'db upgrade'; newer or unknown ones are not."""
    engine = _at_revision(tmp_path, revision)
    with pytest.raises(SchemaOutdatedError) as caught:
        ensure_current(engine)
    engine.dispose()
    assert expected in str(caught.value)
    assert ("db upgrade" in str(caught.value)) is advises_upgrade


def test_upgrade_refuses_a_newer_schema(tmp_path: Path) -> None:
    """'upgrade' on a schema from newer code refuses instead of failing inside Alembic."""
    engine = _at_revision(tmp_path, "0999")
    with pytest.raises(SchemaOutdatedError, match="newer than this code"):
        upgrade(engine)
    engine.dispose()


def test_ensure_current_accepts_the_head(tmp_path: Path) -> None:
    """A freshly migrated database passes the check."""
    engine = make_engine(f"sqlite:///{tmp_path / 'onboarding.db'}")
    upgrade(engine)
    ensure_current(engine)
    engine.dispose()
