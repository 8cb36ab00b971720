"""The operator and auditor console: a server-rendered web app on the management API and the
CLI's read path (``onboarding console``; :func:`create_console_app` for an embedding service).
"""

from workflow.console.app import create_console_app
from workflow.console.context import ConsoleSettings

__all__ = ["ConsoleSettings", "create_console_app"]
