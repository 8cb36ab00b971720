"""``onboarding console``: serve the web console (uvicorn), and manage its users
(``console user add|remove|list``)."""

from __future__ import annotations

import json
import os
import secrets
import sys
from typing import Annotated, Final

import typer

from workflow.cli.application import app
from workflow.cli.wiring import KeyWhenNeeded, echo, fail, open_store, settings

console_app = typer.Typer(
    help="The operator and auditor web console, and its users.", invoke_without_command=True
)
user_app = typer.Typer(
    help="Who may sign in to the console, with which role.", no_args_is_help=True
)
console_app.add_typer(user_app, name="user")
app.add_typer(console_app, name="console")

LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


@console_app.callback(invoke_without_command=True)
def console(
    context: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    proxy_user_header: Annotated[
        str | None,
        typer.Option(
            "--proxy-user-header", envvar="ONBOARDING_CONSOLE_PROXY_USER_HEADER",
            help="Trusted-proxy mode: read the signed-in user from this header (an SSO proxy "
            "sets it); needs --trusted-proxy. Off unless given.",
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option("--trusted-proxy", help="The proxy's address (repeatable): the only "
                      "clients whose user header is believed."),
    ] = None,
    bulk_confirm_above: Annotated[
        int, typer.Option(min=0, help="Bulk actions over this many need the count typed.")
    ] = 100,
) -> None:  # fmt: skip
    """Serve the console (server-rendered pages; sign in with a 'console user').

    Sessions are signed with ONBOARDING_CONSOLE_SECRET when set (share it between console
    processes behind one address), else with a key made at start (a restart signs everyone
    out). Actions need the secret key the CLI's actions use.
    """
    if context.invoked_subcommand is not None:
        return
    import uvicorn

    from workflow.cli.processes import check_port_free
    from workflow.console import ConsoleSettings, create_console_app

    if proxy_user_header is not None and not trusted_proxy:
        raise fail("--proxy-user-header needs --trusted-proxy ADDRESS: the header is believed "
                   "only from the proxy", 2)  # fmt: skip
    secret = os.environ.get("ONBOARDING_CONSOLE_SECRET", "").encode() or secrets.token_bytes(32)
    if len(secret) < 32:
        raise fail("ONBOARDING_CONSOLE_SECRET must be at least 32 characters", 2)
    store = open_store()
    options = ConsoleSettings(
        session_secret=secret, secure_cookies=host not in LOOPBACK,
        proxy_user_header=proxy_user_header, trusted_proxies=frozenset(trusted_proxy or ()),
        bulk_confirm_above=bulk_confirm_above,
    )  # fmt: skip
    web = create_console_app(store, KeyWhenNeeded(), database_url=settings().db, settings=options)
    from persistence.console_access import ConsoleAccess

    if not ConsoleAccess(store.engine).users() and proxy_user_header is None:
        echo("no console user yet: add one with 'onboarding console user add NAME --role admin'")
    check_port_free(host, port, "console")
    echo(f"console on http://{host}:{port} (Ctrl-C stops it)")
    # Open live pages (server-sent events) would hold a graceful stop forever: 5 s at most.
    uvicorn.run(
        web, host=host, port=port, log_level="warning", proxy_headers=False,
        timeout_graceful_shutdown=5,
    )  # fmt: skip


def _access() -> object:
    from persistence.console_access import ConsoleAccess

    return ConsoleAccess(open_store().engine)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (1-64 characters, no spaces).")],
    role: Annotated[str, typer.Option(help="viewer (reads), operator (acts) or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
) -> None:
    """Add a console user (the password is asked for, or read from stdin; argon2-hashed)."""
    from persistence.console_access import ConsoleAccess
    from workflow.console.access import ROLES, check_user_name, hash_password
    from workflow.core.clock import SystemClock

    if role not in ROLES:
        raise fail(f"--role {role[:20]!r}: use one of {', '.join(ROLES)}", 2)
    try:
        check_user_name(name)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    access = _access()
    assert isinstance(access, ConsoleAccess)
    access.add_user(name, hashed, role, SystemClock().now())
    echo(f"console user {name} added ({role})")


@user_app.command("remove")
def user_remove(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Remove a console user (their sessions end at their next request)."""
    from persistence.console_access import ConsoleAccess

    access = _access()
    assert isinstance(access, ConsoleAccess)
    if not access.remove_user(name):
        raise fail(f"no console user {name!r}; 'onboarding console user list' shows them")
    echo(f"console user {name} removed")


@user_app.command("list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines.")] = False,
) -> None:
    """The console users and their roles (never their hashes)."""
    from persistence.console_access import ConsoleAccess

    access = _access()
    assert isinstance(access, ConsoleAccess)
    for user in access.users():
        if as_json:
            typer.echo(json.dumps({
                "schema_version": 1, "kind": "console_user", "name": user.name,
                "role": user.role, "created_at": user.created_at.isoformat(),
            }))  # fmt: skip
        else:
            echo(f"{user.name}  {user.role}  added {user.created_at:%Y-%m-%d %H:%M} UTC")
