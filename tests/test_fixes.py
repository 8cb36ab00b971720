"""The fix line of each pause code: one for every code the engine pauses with and every code
Sent documents, in the per-key form for one onboarding and the bulk form for a group."""

from __future__ import annotations

import pytest

from workflow.fixes import FIXES, fix_for, fix_line
from workflow.observing import ENGINE_PAUSE_CODES, SENT_ERROR_CODES


def test_every_code_the_engine_pauses_with_has_a_fix_line() -> None:
    """The table and the engine's own list of codes are the same set: a new pause code without
    a fix line fails here (and a fix for a code nothing pauses with, too)."""
    assert set(FIXES) == set(ENGINE_PAUSE_CODES | SENT_ERROR_CODES)
    for code, fix in FIXES.items():
        assert fix.means, code
        assert fix.action in ("resume", "rewind", "amend", None), code


@pytest.mark.parametrize(
    ("code", "one", "group"),
    [
        (
            "RESOURCE_014",
            "'onboarding rewind acme-1 --to pending --reason WHY'",
            "'onboarding rewind --code RESOURCE_014 --to pending --reason WHY --dry-run', "
            "then again with --yes",
        ),
        (
            "COMPLETION_TIMEOUT",
            "'onboarding resume acme-1 --reason WHY'",
            "'onboarding resume --code COMPLETION_TIMEOUT --reason WHY --dry-run'",
        ),
        (
            "PREREQUISITES",
            "'onboarding amend acme-1 FIXED.yaml --reason WHY', then 'onboarding resume acme-1",
            "for each ('onboarding stuck --code PREREQUISITES' lists them)",
        ),
        (
            "VALIDATION_001",
            "'onboarding amend acme-1 FIXED.yaml --reason WHY'",
            "'onboarding amend KEY FIXED.yaml --reason WHY'",
        ),
        (
            "OWNERSHIP_UNPROVEN",
            "'onboarding resume acme-1 --reason WHY --adopt ID' if one is its own, "
            "'--create-new' if none",
            "'onboarding show KEY' lists the candidates",
        ),
        (
            "COMMIT_FAILED",
            "fix the database (the worker's log names the error), then 'onboarding resume acme-1",
            "'onboarding resume --code COMMIT_FAILED --reason WHY --dry-run'",
        ),
    ],
)
def test_a_fix_line_names_the_command_for_one_and_for_a_group(
    code: str, one: str, group: str
) -> None:
    """For one onboarding the per-key command; for a group the bulk command over --code, as a
    dry run first (or, for what is done one at a time, where the keys are listed)."""
    assert one in fix_line(code, "acme-1")
    assert group in fix_line(code)
    assert "acme-1" not in fix_line(code)


def test_codes_are_read_in_any_case_and_validation_codes_are_amended() -> None:
    """``resource_014`` is RESOURCE_014; a VALIDATION_ code Sent adds later is amended too; an
    unknown code gets the general line naming amend, rewind and cancel."""
    assert fix_for("resource_014") is FIXES["RESOURCE_014"]
    assert fix_for("VALIDATION_042").action == "amend"
    assert "amend, rewind or cancel otherwise" in fix_line("SOMETHING_NEW", "acme-1")
    assert "amend, rewind or cancel otherwise" in fix_line(None, "acme-1")
