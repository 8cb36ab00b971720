"""A faithful fake of the Sent v3 profile API, for the demo, the tests and the benchmarks.

Use :class:`Sandbox` in-process (``sandbox.app`` is an ASGI app: serve it with
:class:`ServerThread`, or call it through ``httpx.ASGITransport``), or run
``onboarding sandbox serve``.
"""

from workflow.adapters.serving import ServerThread, free_port
from workflow.sandbox.app import Sandbox
from workflow.sandbox.completion import sign
from workflow.sandbox.faults import FaultConfig, ScriptedFault
from workflow.sandbox.state import OrganizationConfig

__all__ = [
    "FaultConfig",
    "OrganizationConfig",
    "Sandbox",
    "ScriptedFault",
    "ServerThread",
    "free_port",
    "sign",
]
