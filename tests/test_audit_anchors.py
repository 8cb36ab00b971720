"""Audit anchors: fixed vectors for the hash chain and its HMAC anchors, every writer anchoring
with the one secret key, heads written before anchoring, and writers without the key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from persistence.store import SqlStore
from tests.audit_helpers import NOW, raw, set_head, started, tamper
from tests.cli_process import environment, one_line_error, run
from tests.conftest import TEST_KEY, Harness
from workflow import verify_audit
from workflow.audit import ANCHOR_START, anchor, chained, row_digest
from workflow.cli import app
from workflow.errors import AuditAnchorError
from workflow.ports import AuditEntry, Checkpoint
from workflow.secrets import ANCHOR_LABEL, FernetVault, hkdf_sha256
from workflow.selection import Selector

ONBOARDING = "0123456789abcdef0123456789abcdef"
#: A cancel row in the canonical form its digest covers, written out by hand.
CANONICAL = (
    '["0123456789abcdef0123456789abcdef",2,"cancel","needs_attention","cancelled","alice",'
    '"2026-05-01T09:30:00.000000+00:00","duplicate request",null,{"delete_at_sent":false},'
    '"prof_1",null,"' + "ab" * 32 + '"]'
)
DIGEST = "5f5a4ab1a61049dc11a3fd74922e26040fea09383c864e719c0ddc790096dd96"


def _cli(store: SqlStore, *args: str) -> Any:
    url = store.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["--db", url, *args])


def test_the_digest_of_a_written_out_row_is_fixed() -> None:
    """A hand-written row hashes to a fixed SHA-256: any change to the serialisation fails."""
    assert hashlib.sha256(CANONICAL.encode()).hexdigest() == DIGEST
    at = datetime(2026, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))  # 09:30 UTC
    computed = row_digest(
        ONBOARDING, 2, "cancel", "needs_attention", "cancelled", "alice", at,
        "duplicate request", None, {"delete_at_sent": False}, "prof_1", None, "ab" * 32,
    )  # fmt: skip
    assert computed == DIGEST
    naive = datetime(2026, 5, 1, 9, 30)  # as SQLite hands it back: UTC without an offset
    assert row_digest(
        ONBOARDING, 2, "cancel", "needs_attention", "cancelled", "alice", naive,
        "duplicate request", None, {"delete_at_sent": False}, "prof_1", None, "ab" * 32,
    ) == DIGEST  # fmt: skip


def test_the_anchor_of_a_head_is_a_fixed_hmac() -> None:
    """HMAC-SHA256 over [onboarding, seq, head, previous anchor], under a fixed key; and the key
    the vault derives from the secret key (HKDF, its own label) gives a fixed anchor too."""
    message = '["0123456789abcdef0123456789abcdef",2,"' + DIGEST + '",""]'
    assert message == json.dumps([ONBOARDING, 2, DIGEST, ""], separators=(",", ":"))
    key = bytes(range(32))
    expected = "8f967b577b5f297d8a0b30157cb6c0755e378a92057e97f5b501728625165871"
    assert anchor(key, ONBOARDING, 2, DIGEST, ANCHOR_START) == expected
    assert anchor(key, ONBOARDING, 2, DIGEST, expected) != expected  # the previous one counts
    derived = hkdf_sha256(b"test-key-32-bytes-for-anchors!!!", ANCHOR_LABEL)
    assert derived.hex() == "736bc480688b5a7de8ce1ca694ec537a4f8320d5d1c9f0c32719225716a31b79"
    assert FernetVault(TEST_KEY).anchor(ONBOARDING, 2, DIGEST, "") == (
        "7a204b459fbe9ba8b4b1156790dd68952e66c145aa212e63416ac6fc504bfa17"
    )


def test_hkdf_matches_rfc_5869() -> None:
    """The stdlib HKDF-SHA256 gives RFC 5869's test vectors (cases 1 and 3)."""
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(13))
    info = bytes(range(0xF0, 0xFA))
    assert hkdf_sha256(ikm, info, 42, salt).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    assert hkdf_sha256(ikm, b"", 42).hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


def test_chained_anchors_each_head_after_the_one_before() -> None:
    """Each entry's anchor covers its onboarding, seq, digest and the checkpoint's anchor."""
    vault = FernetVault(TEST_KEY)
    checkpoint = Checkpoint(
        id=ONBOARDING, key="k", fingerprint="f", spec={}, state="pending", version=0,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    first = chained(checkpoint, AuditEntry("start", None, "pending", "a", NOW), vault)
    assert first.anchor == vault.anchor(ONBOARDING, 1, first.digest, "")
    after = dataclasses.replace(
        checkpoint, audit_seq=1, audit_head=first.digest, audit_anchor=first.anchor
    )
    second = chained(after, AuditEntry("cancel", "pending", "cancelled", "a", NOW), vault)
    assert second.anchor == vault.anchor(ONBOARDING, 2, second.digest, first.anchor)


#: A two-row chain as ``chained`` must write it: each row in its canonical form, written out by
#: hand (keys sorted, non-ASCII escaped, times in UTC with microseconds), the first chained to
#: the genesis digest and the second to the first; then the digests and anchors that follow.
CHAIN_ROWS = (
    '["0123456789abcdef0123456789abcdef",1,"start",null,"pending","ops \\u2713",'
    '"2026-05-01T09:00:00.000000+00:00",null,null,null,null,null,"' + "0" * 64 + '"]',
    '["0123456789abcdef0123456789abcdef",2,"cancel","pending","cancelled","alice",'
    '"2026-05-01T09:30:00.250000+00:00","na\\u00efve","req_1",{"a":"\\u2713","b":[1,null]},'
    '"prof_1","batch_1","{previous}"]',
)
CHAIN_DIGESTS = (
    "7bd92decacb5fe882033bfcb858e1416e9733e7b78ec4f16d8a67a910b5567d4",
    "22154ab18a95f5da74ca734c6b02e2ec2a3caf209fcc9dbae067b1ce91382ac8",
)
CHAIN_ANCHORS = (
    "399a54e25ce501f8fb3da80a5c0156b3b813d05b9fe02735f962c9db291c2cb6",
    "7e950f4e17a8259042a1f89c3efbcc49c9ce5af56319c0ea333ce88ece0b7418",
)


def test_a_chain_written_by_chained_has_fixed_digests_and_anchors() -> None:
    """Every entry field lands in its place of the canonical row, the first row follows the
    genesis digest, the second its predecessor, the anchors follow each other: a change to how
    ``chained`` serialises or links rows breaks these vectors (and every stored chain)."""
    first_row = CHAIN_ROWS[0]
    second_row = CHAIN_ROWS[1].replace("{previous}", CHAIN_DIGESTS[0])
    assert hashlib.sha256(first_row.encode()).hexdigest() == CHAIN_DIGESTS[0]
    assert hashlib.sha256(second_row.encode()).hexdigest() == CHAIN_DIGESTS[1]
    vault = FernetVault(TEST_KEY)
    start = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    checkpoint = Checkpoint(
        id=ONBOARDING, key="k", fingerprint="f", spec={}, state="pending", version=0,
        created_at=start, updated_at=start,
    )  # fmt: skip
    first = chained(checkpoint, AuditEntry("start", None, "pending", "ops ✓", start), vault)
    after = dataclasses.replace(
        checkpoint, audit_seq=1, audit_head=first.digest, audit_anchor=first.anchor
    )
    cancel = AuditEntry(
        "cancel", "pending", "cancelled", "alice", datetime(2026, 5, 1, 9, 30, 0, 250000, UTC),
        reason="naïve", request_id="req_1", details={"b": [1, None], "a": "✓"},
        profile_id="prof_1", batch_id="batch_1",
    )  # fmt: skip
    second = chained(after, cancel, vault)
    assert (first.seq, second.seq) == (1, 2)
    assert (first.digest, second.digest) == CHAIN_DIGESTS
    assert (first.anchor, second.anchor) == CHAIN_ANCHORS


def test_every_writer_anchors_and_another_key_fails_every_anchor(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """start, the worker, operator actions (one and in bulk) and amend all anchor with the
    key; verified with another key, every log fails its anchor."""
    done = harness.start(samples["demo-own-brand-tcr"])
    paused = harness.start(samples["demo-prerequisite-pause"])
    harness.run()
    assert harness.store.get(paused).state == "needs_attention"
    harness.ops.amend(paused, _spec(harness, samples), actor="a", reason="same spec")
    harness.ops.resume(paused, actor="a", reason="again")
    harness.run()
    harness.ops.bulk("cancel", Selector(key_prefix="demo-"), actor="b", reason="wrapping up")
    assert harness.store.get(paused).state == "cancelled"
    report = verify_audit(harness.store, anchoring=harness.vault)
    assert (report.ok, report.anchors_checked, report.onboardings) == (True, True, 2)
    assert all(harness.store.get(i).audit_anchor for i in (done, paused))
    other = verify_audit(harness.store, anchoring=FernetVault.generate())
    assert [(p.key, p.check) for p in other.problems] == [
        (harness.store.get(i).key, "anchor") for i in sorted((done, paused))
    ]
    without = verify_audit(harness.store)
    assert without.ok
    assert without.summary().endswith("; anchors not checked (no key)")


def _spec(harness: Harness, samples: dict[str, Any]) -> Any:
    from workflow.spec import parse_spec

    return parse_spec(samples["demo-prerequisite-pause"], today=harness.clock.now().date())


def _unanchor(store: SqlStore, onboarding_id: str) -> None:
    """A head as releases before anchoring left it (or as someone who removed it left it)."""
    connection = raw(store)
    set_head(connection, onboarding_id, audit_anchor="")
    connection.close()


def test_a_head_without_an_anchor_is_reported_and_refused_to_writers(store: SqlStore) -> None:
    """verify names an unanchored head as such (not as a rewrite); operator actions refuse to
    write on it (one line, naming the fix); a bulk action skips it."""
    started(store, "clean", steps=1)
    victim = started(store, "victim", steps=3)  # paused
    _unanchor(store, victim)
    result = _cli(store, "audit", "verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"onboarding victim ({victim}): unanchored: the checkpoint holds")
    assert lines[-1].startswith("audit verify: FAILED for 1 of 2: ")
    assert "; 1 not anchored" in lines[-1]

    from workflow.management import Onboardings

    ops = Onboardings(store, FernetVault(TEST_KEY))
    with pytest.raises(AuditAnchorError, match="onboarding audit anchor"):
        ops.resume(victim, actor="a", reason="r")
    url = store.engine.url.render_as_string(hide_password=False)
    keyed = environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode())
    line = one_line_error(run("--db", url, "cancel", "victim", "--reason", "r", env=keyed))
    assert "its audit log has no anchor" in line
    assert "'onboarding audit anchor'" in line
    assert store.get(victim).state == "needs_attention"
    states = frozenset({"incomplete", "needs_attention"})
    report = ops.bulk("cancel", Selector(states=states), actor="a", reason="r")
    assert [store.get(i).key for i in report.applied] == ["clean"]
    assert [s.key for s in report.skipped] == ["victim"]
    assert "has no anchor" in report.skipped[0].reason


def test_audit_anchor_anchors_intact_logs_and_leaves_broken_ones(store: SqlStore) -> None:
    """'audit anchor' checks each unanchored log and anchors the intact ones; a log that fails
    its checks is listed and left (exit 1); then verify names only that one."""
    first = started(store, "first", steps=2)
    second = started(store, "second", steps=1)
    broken = started(store, "broken", steps=2)
    for onboarding in (first, second, broken):
        _unanchor(store, onboarding)
    tamper(store, "UPDATE transitions SET actor = 'x' WHERE onboarding_id = :id AND seq = 2",
           id=broken)  # fmt: skip
    result = _cli(store, "audit", "anchor")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"onboarding broken ({broken}): seq 2: digest: ")
    assert lines[-1].startswith("audit anchor: anchored 2 audit log(s); left 1 unanchored")
    report = verify_audit(store, anchoring=FernetVault(TEST_KEY))
    assert sorted({(p.key, p.check) for p in report.problems}) == [
        ("broken", "digest"), ("broken", "unanchored"),
    ]  # fmt: skip
    assert (report.failed, report.unanchored) == (1, 1)
    again = _cli(store, "audit", "anchor", "--key", "first")
    assert again.stdout.strip() == "audit anchor: anchored 0 audit log(s)"


def _legacy(store: SqlStore) -> None:
    """Make the database what the release before anchoring left: no anchor column, no REPLACE
    trigger, at the revision before the one adding anchors (later revisions undone first)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from persistence.migrate import alembic_config

    url = store.engine.url.render_as_string(hide_password=False)
    config = alembic_config(url)
    anchors = next(
        r
        for r in ScriptDirectory.from_config(config).walk_revisions()
        if "audit_anchors" in str(r.path)
    )
    command.downgrade(config, anchors.revision)
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER transitions_no_replace"))
        connection.execute(text("ALTER TABLE onboardings DROP COLUMN audit_anchor"))
        connection.execute(
            text("UPDATE alembic_version SET version_num = :before"),
            {"before": anchors.down_revision},
        )


def test_db_upgrade_anchors_the_logs_written_before_anchoring(store: SqlStore) -> None:
    """The upgrade that adds anchors checks and anchors every existing log when the key is at
    hand; verify then passes, anchors included."""
    ids = [started(store, f"old-{n}", steps=n) for n in (1, 3)]
    _legacy(store)
    result = _cli(store, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "audit anchor: anchored 2 audit log(s)" in result.stdout
    assert all(store.get(i).audit_anchor for i in ids)
    assert verify_audit(store, anchoring=FernetVault(TEST_KEY)).ok


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_db_upgrade_without_the_key_says_how_to_anchor_later(
    store: SqlStore, tmp_path: Path
) -> None:
    """Without the key, the upgrade migrates and says to run 'audit anchor' with it; workers
    refuse to run onboardings whose logs are not anchored until then."""
    started(store, "old", steps=1)
    _legacy(store)
    key_file = tmp_path / "onboarding.db.key"
    key_file.rename(tmp_path / "elsewhere.key")
    url = store.engine.url.render_as_string(hide_password=False)
    upgraded = run("--db", url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "1 audit log(s) written before this release have no anchor yet: run 'onboarding " \
        "audit anchor' with the secret key" in upgraded.stdout  # fmt: skip
    assert not key_file.exists()
    (tmp_path / "elsewhere.key").rename(key_file)
    worker = run("--db", url, "--api-url", "http://127.0.0.1:9", "--api-key", "k", "worker",
                 "--until-idle")  # fmt: skip
    assert "have audit logs without an anchor" in one_line_error(worker)
    anchored = run("--db", url, "audit", "anchor")
    assert anchored.stdout.strip() == "audit anchor: anchored 1 audit log(s)"
    assert run("--db", url, "audit", "verify").returncode == 0


def test_operator_actions_need_the_key_the_log_is_anchored_with(
    tmp_path: Path, samples: dict[str, Any]
) -> None:
    """SQLite: with the key file gone, an operator action stops with one line naming it and
    changes nothing (previously it needed no key); so does audit verify."""
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([samples["demo-inherited"]]))
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    assert run("--db", db, "start", str(specs), cwd=tmp_path).returncode == 0
    (tmp_path / "onboarding.db.key").rename(tmp_path / "away.key")
    line = one_line_error(run("--db", db, "cancel", "demo-inherited", "--reason", "r"))
    assert "onboarding.db.key does not exist" in line
    assert "ONBOARDING_SECRET_KEY" in line
    shown = json.loads(run("--db", db, "show", "demo-inherited", "--json").stdout)
    assert shown["state"] == "pending"
    assert "ONBOARDING_SECRET_KEY" in one_line_error(run("--db", db, "audit", "verify"))
    keyed = run("--db", db, "--key-file", str(tmp_path / "away.key"), "cancel", "demo-inherited",
                "--reason", "r")  # fmt: skip
    assert keyed.returncode == 0, keyed.stderr
    verified = run("--db", db, "--key-file", str(tmp_path / "away.key"), "audit", "verify")
    assert verified.returncode == 0, verified.stdout


@pytest.mark.postgres
@pytest.mark.parametrize("database_url_for_test", ["postgres"], indirect=True)
def test_postgres_writers_without_a_key_refuse_in_one_line(
    database_url_for_test: str, tmp_path: Path, samples: dict[str, Any]
) -> None:
    """On PostgreSQL every writer of the audit log needs the key: start, operator actions and
    audit verify name ONBOARDING_SECRET_KEY and --key-file; with the key they work."""
    url = database_url_for_test
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([samples["demo-inherited"]]))
    for args in (("start", str(specs)), ("audit", "verify")):
        line = one_line_error(run("--db", url, *args, cwd=tmp_path))
        assert "ONBOARDING_SECRET_KEY" in line
        assert "--key-file" in line
    keyed = environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode())
    assert run("--db", url, "start", str(specs), env=keyed).returncode == 0
    line = one_line_error(run("--db", url, "cancel", "demo-inherited", "--reason", "r"))
    assert "ONBOARDING_SECRET_KEY" in line
    assert run("--db", url, "cancel", "demo-inherited", "--reason", "r", env=keyed).returncode == 0
    assert run("--db", url, "audit", "verify", env=keyed).returncode == 0
