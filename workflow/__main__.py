"""``python -m workflow`` runs the ``onboarding`` command line."""

from workflow.cli import main

main()
