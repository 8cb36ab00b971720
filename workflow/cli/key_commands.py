"""``onboarding key generate``: a secret key for ``ONBOARDING_SECRET_KEY`` or a key file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.application import app
from workflow.cli.wiring import echo, fail

key_app = typer.Typer(help="The secret key that seals secrets and anchors the audit log.")
app.add_typer(key_app, name="key")


@key_app.command("generate")
def key_generate(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            dir_okay=False,
            help="Write the key to this file (created 0600) instead of printing it.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing file: what the old key sealed or anchored is lost.",
        ),
    ] = False,
) -> None:
    """Make a new random secret key: printed, or written to a file only its owner reads.

    Give every process using one database the same key (ONBOARDING_SECRET_KEY, or the file
    with --key-file / ONBOARDING_SECRET_KEY_FILE), and back it up with the database: without
    it sealed secrets cannot be opened and the audit log cannot be written or verified.
    """
    from workflow.adapters.vault import FernetVault, write_key_file

    if file is None:
        echo(FernetVault.new_key())
        return
    try:
        write_key_file(file, force=force)
    except FileExistsError:
        raise fail(
            f"{file} already exists; a new key there would orphan what the old one sealed and "
            "anchored: choose another file, or pass --force to replace it"
        ) from None
    except OSError as exc:
        raise fail(f"cannot write {file}: {exc.strerror or exc}") from None
    echo(f"wrote a new secret key to {file} (mode 0600): keep it with the database")
