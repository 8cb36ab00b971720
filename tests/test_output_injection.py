"""Text from Sent or an operator never drives the terminal or forges a log line."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_process import environment, run
from tests.conftest import SAMPLES
from workflow.core.printable import printable
from workflow.core.spec import load_documents
from workflow.following.logs import configure_logging
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, ServerThread

CLEAR = "\x1b[2J\x1b[H"
LINK = "\x1b]8;;https://evil.example/\x1b\\support\x1b]8;;\x1b\\"
CURSOR = "\x1b[5A\x1b[2K"
FORGED = "\n2027-01-01 00:00:00,000 INFO workflow.engine: conclude: complete -> completed\r"
BIDI = "\u202egnp.exe\u202c\u2066x\u2069"
#: What Sent says, in the error of the create it refuses.
HOSTILE = f"Request refused{CLEAR}{LINK}{CURSOR}{BIDI}\x9b31m\x7f{FORGED}"
HOSTILE_CODE = "VALIDATION\x1b[31m_001"
#: What an operator types.
REASON = f"checked{CLEAR}\x1b[1A{FORGED}"
ACTOR = "ops\x1b]8;;https://evil.example/\x1b\\me\u202e"

RAW = ("\x1b", "\r", "\x9b", "\x7f", "\u202e", "\u202c", "\u2066", "\u2069")
RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) ")


def _assert_inert(output: str, what: str, *, log: bool = False) -> None:
    """No raw control character, and no line that reads as a worker's log record: in a log
    no record starts but at column 0 (a traceback's lines are indented below it); in a table
    no line starts with the forged record, whatever border or space precedes it."""
    for raw in RAW:
        assert raw not in output, f"{what}: raw {raw!r} in {output!r}"
    start = r"^2027-01-01 " if log else r"^[\s│|]*2027-01-01 "
    for line in output.splitlines():
        assert not re.search(start, line), (what, line)


def test_printable_escapes_every_control_character_visibly() -> None:
    """C0 (tab and line feed too), DEL, C1, bidi overrides and isolates, line separators and
    lone surrogates become escapes; other text, accents and emoji stay as they are."""
    assert printable("plain: café ✓ 🙂 [red]") == "plain: café ✓ 🙂 [red]"
    assert printable(None) == ""
    assert printable(17) == "17"
    assert printable("a\x00b\tc\nd\re\x1b[2Jf\x7fg\x85h\x9b") == (
        "a\\x00b\\tc\\nd\\re\\x1b[2Jf\\x7fg\\x85h\\x9b"
    )
    assert printable("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") == (
        "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
    )
    assert printable("x\u2028y\u2029z\ud800") == "x\\u2028y\\u2029z\\ud800"
    assert printable("one\ntwo\x1b", newlines=True) == "one\ntwo\\x1b"


def test_text_log_lines_escape_the_message_fields_and_traceback() -> None:
    """A message or field holding a line feed and a fake record stays on its record's line;
    a traceback's lines are indented, so none of them starts like a record."""
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    log = logging.getLogger("workflow.engine")
    try:
        log.warning("paused: %s", HOSTILE, extra={"key": f"k{FORGED}", "state": CLEAR})
        try:
            raise ValueError(f"bad reply{FORGED}")
        except ValueError:
            log.exception("step failed")
    finally:
        logging.getLogger().removeHandler(configure_logging("INFO", "text", stream=io.StringIO()))
    output = stream.getvalue()
    _assert_inert(output, "text log", log=True)
    lines = output.splitlines()
    records = [line for line in lines if RECORD_START.match(line)]
    assert len(records) == 2
    assert "paused: Request refused\\x1b[2J\\x1b[H" in records[0]
    assert "key=k\\n2027-01-01" in records[0]
    assert "state=\\x1b[2J" in records[0]
    assert all(line.startswith("    ") for line in lines if not RECORD_START.match(line))
    assert any("ValueError: bad reply" in line for line in lines)


def test_json_log_lines_keep_control_characters_as_json_escapes() -> None:
    """JSON logs were already safe: one object a line, the text intact once decoded."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        logging.getLogger("workflow.engine").warning("%s", HOSTILE, extra={"key": REASON})
    finally:
        logging.getLogger().removeHandler(configure_logging("INFO", "text", stream=io.StringIO()))
    (line,) = stream.getvalue().splitlines()
    assert "\x1b" not in line
    entry = json.loads(line)
    assert (entry["message"], entry["key"]) == (HOSTILE, REASON)


@pytest.fixture(scope="module")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An onboarding whose create Sent refused with control sequences in its error, run by a
    real worker against the served sandbox, once for the module: its directory and the run."""
    directory = tmp_path_factory.mktemp("hostile")
    samples = {doc["key"]: doc for doc in load_documents(SAMPLES)}
    faults = FaultConfig(
        scripted=[
            ScriptedFault(
                method="POST", path_contains="/v3/profiles", status=400, code=HOSTILE_CODE,
                message=HOSTILE,
            )
        ]
    )  # fmt: skip
    box = Sandbox(OrganizationConfig(completion_delay_seconds=0.1), faults)
    specs = directory / "specs.yaml"
    specs.write_text(yaml.safe_dump([samples["demo-inherited"]]))
    db = f"sqlite:///{directory / 'onboarding.db'}"
    with ServerThread(box.app) as server:
        env = environment(
            SENT_BASE_URL=server.url, SENT_DM_API_KEY="sandbox-key", COLUMNS="250",
            ONBOARDING_CALLBACK_BASE_URL="http://127.0.0.1:9",
        )  # fmt: skip
        assert run("--db", db, "start", str(specs), env=env, cwd=directory).returncode == 0
        worker = run("--db", db, "worker", "--until-idle", env=env, cwd=directory, timeout=120)
    box.close()
    assert worker.returncode == 0, worker.stderr
    return {"directory": directory, "env": env, "worker": worker}


@pytest.fixture
def hostile_run(hostile_template: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The module's hostile run, its database (and key file) copied for this test; returns how
    to run the CLI on the copy."""
    for name in ("onboarding.db", "onboarding.db-wal", "onboarding.db-shm", "onboarding.db.key"):
        source = hostile_template["directory"] / name
        if source.exists():
            shutil.copy2(source, tmp_path / name)
    return {
        "db": f"sqlite:///{tmp_path / 'onboarding.db'}", "env": hostile_template["env"],
        "cwd": tmp_path, "worker": hostile_template["worker"],
    }  # fmt: skip


def _cli(context: dict[str, Any], *args: str) -> str:
    result = run("--db", context["db"], *args, env=context["env"], cwd=context["cwd"])
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_sent_error_text_prints_escaped_everywhere(hostile_run: dict[str, Any]) -> None:
    """Sent's error (clear screen, OSC-8 link, cursor moves, bidi, a forged log line) prints
    escaped in the worker's log, list, stuck, show, history and a bulk preview; --json keeps
    it whole as JSON escapes."""
    worker_log = hostile_run["worker"].stderr
    _assert_inert(worker_log, "worker log", log=True)
    assert "\\n2027-01-01 00:00:00,000 INFO workflow.engine: conclude" in worker_log
    outputs = {
        "list": _cli(hostile_run, "list"),
        "stuck": _cli(hostile_run, "stuck"),
        "stuck --summary": _cli(hostile_run, "stuck", "--summary"),
        "show": _cli(hostile_run, "show", "demo-inherited"),
        "history": _cli(hostile_run, "history", "demo-inherited", "--attempts"),
        "preview": _cli(
            hostile_run, "resume", "--code", HOSTILE_CODE, "--reason", "r", "--dry-run"
        ),
    }
    for name, output in outputs.items():
        _assert_inert(output, name)
    for name in ("list", "stuck"):
        assert "refused\\x1b[2J\\x1b[H\\x1b]8;;https://evil.example/" in outputs[name]
        assert "\\x7f\\n2027-01-01" in outputs[name]
        assert "\\u202egnp.exe" in outputs[name]
    assert "refused\\e[2J\\e[H" in outputs["show"]  # its YAML fields, as YAML escapes
    assert "VALIDATION\\x1b[31m_001" in outputs["stuck --summary"]
    assert "VALIDATION\\x1b[31m_001" in outputs["history"]
    assert "selected for resume" in outputs["preview"]
    shown = json.loads(_cli(hostile_run, "show", "demo-inherited", "--json"))
    assert HOSTILE.strip().split("\n")[0] in shown["last_error"]["message"]


def test_operator_reason_and_actor_print_escaped(hostile_run: dict[str, Any]) -> None:
    """An operator's --reason and --actor with escape sequences and a forged line print
    escaped in history, and in the line the action prints."""
    acted = _cli(hostile_run, "cancel", "demo-inherited", "--reason", REASON, "--actor", ACTOR)
    _assert_inert(acted, "cancel")
    history = _cli(hostile_run, "history", "demo-inherited")
    _assert_inert(history, "history")
    assert "checked\\x1b[2J\\x1b[H\\x1b[1A\\n2027-01-01" in history
    assert "ops\\x1b]8;;https://e" in history  # the actor's narrow column folds the rest
    refused = _cli(hostile_run, "resume", "demo-inherited", "--reason", REASON, "--actor", ACTOR)
    _assert_inert(refused, "refused resume")
