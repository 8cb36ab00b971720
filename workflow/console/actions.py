"""The actions on one onboarding: resume, retry, rewind, cancel and amend, each through the
management API the CLI's twin calls (:class:`~workflow.management.onboardings.Onboardings`), with
the signed-in user as the actor and a reason, so each writes the audit row its CLI twin writes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from workflow.console.context import Console, Form, User, action, page
from workflow.core.errors import OnboardingError

__all__ = ["act", "amend_apply", "amend_form", "amend_preview"]

#: The longest reason kept (the audit log's column has no limit; a page should).
REASON_CHARS: Final = 2000


def _reason(form: Form) -> str:
    reason = form.one("reason").strip()
    if not reason:
        raise ValueError("reason: say why (the reason is kept in the audit log)")
    if len(reason) > REASON_CHARS:
        raise ValueError(f"reason: at most {REASON_CHARS} characters")
    return reason


def _refused(console: Console, request: Request, user: User, message: str) -> Response:
    back = f"/onboardings/{request.path_params['id']}"
    return console.render(request, "message.html", user, status=409, message=message, back=back)


@action()
def act(request: Request, console: Console, user: User, form: Form) -> Response:
    """Resume, retry, rewind or cancel one onboarding."""
    ident, name = request.path_params["id"], form.one("action")
    delete = form.one("delete_at_sent") == "1"
    ops = console.ops
    try:
        reason = _reason(form)
        if name == "resume":
            row = ops.resume(
                ident, actor=user.name, reason=reason, adopt=form.one("adopt") or None,
                create_new=form.one("create_new") == "1",
            )  # fmt: skip
        elif name == "retry":
            row = ops.retry(ident, actor=user.name, reason=reason)
        elif name == "rewind":
            target = form.one("target")
            row = ops.rewind(ident, target, actor=user.name, reason=reason, delete_at_sent=delete)
        elif name == "cancel":
            row = ops.cancel(ident, actor=user.name, reason=reason, delete_at_sent=delete)
        else:
            raise ValueError(f"action {name[:40]!r}: use resume, retry, rewind or cancel")
    except (OnboardingError, ValueError) as exc:
        return _refused(console, request, user, str(exc))
    return RedirectResponse(f"/onboardings/{row.id}", status_code=303)


@page
def amend_form(request: Request, console: Console, user: User) -> Response:
    """The amend form: paste or upload the corrected spec, with a reason."""
    import json

    with console.reader() as reads:
        row = reads.find(request.path_params["id"], spec=True)
    current = json.dumps(row["spec"], indent=2, ensure_ascii=False)
    return console.render(request, "amend.html", user, row=row, text=current, plan=None)


def _parsed(console: Console, text: str) -> tuple[Any, list[str]]:
    """The spec in ``text`` (JSON or YAML), read exactly as ``onboarding amend FILE`` reads."""
    from workflow.core.spec import parse_documents

    suffix = ".json" if text.lstrip().startswith(("{", "[")) else ".yaml"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"spec{suffix}"
        path.write_text(text, encoding="utf-8")
        valid, errors = parse_documents([path], today=console.clock.now().date())
    problems = [f"{p.path}: {p.message}" for e in errors for p in e.problems]
    if not errors and len(valid) != 1:
        problems.append("the text must hold exactly one spec")
    return (valid[0] if not problems else None), problems


def _plan(console: Console, ident: str, spec: Any) -> dict[str, Any]:
    """What the amend would change: each changed path with its old and new value, and the
    profile fields the create already sent that a PATCH would carry."""
    from workflow.core.spec import changed_paths
    from workflow.flows import FLOW, FLOWS
    from workflow.management.decisions import patchable_profile_fields, sent_paths

    current = console.store.find(ident)
    new = spec.storable()
    paths = changed_paths(current.spec, new)
    records = console.store.records(current.id, current.generation)
    sent = sent_paths(paths, records, FLOWS.get(current.flow_version, FLOW))
    patch = patchable_profile_fields(sent, new.get("profile") or {}) if current.profile_id else []
    patched = dict.fromkeys(patch, 1)
    return {
        "changes": [(p, _at(current.spec, p), _at(new, p)) for p in paths],
        "patch": patch,
        "already_sent": [p for p in sent if not patchable_profile_fields([p], patched)],
        "key_differs": spec.key != current.key,
    }


def _at(document: Any, path: str) -> Any:
    """The value at a changed path (``profile.name``, ``campaigns[0].name``), or None."""
    import re

    value = document
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            return None
    return value


@action()
def amend_preview(request: Request, console: Console, user: User, form: Form) -> Response:
    """Validate the pasted or uploaded spec; show the diff and what a PATCH would carry."""
    text = form.one("file") or form.one("spec")
    with console.reader() as reads:
        row = reads.find(request.path_params["id"], spec=True)
    spec, problems = _parsed(console, text)
    plan = _plan(console, row["id"], spec) if spec is not None else None
    return console.render(
        request, "amend.html", user, status=400 if problems else 200, row=row, text=text,
        problems=problems, plan=plan, reason=form.one("reason"),
    )  # fmt: skip


@action()
def amend_apply(request: Request, console: Console, user: User, form: Form) -> Response:
    """Amend with the previewed spec (``Onboardings.amend``, as ``onboarding amend``)."""
    spec, problems = _parsed(console, form.one("spec"))
    try:
        reason = _reason(form)
        if spec is None:
            raise ValueError("; ".join(problems))
        row, _ = console.ops.amend(request.path_params["id"], spec, actor=user.name, reason=reason)
    except (OnboardingError, ValueError) as exc:
        return _refused(console, request, user, str(exc))
    return RedirectResponse(f"/onboardings/{row.id}", status_code=303)
