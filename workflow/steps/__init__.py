"""The steps of the onboarding flow, one module each; :mod:`workflow.flows` lists them in order.

:mod:`workflow.steps.base` says what a step is made of (items, outcomes, the context it runs in).
"""

from workflow.steps.base import Advance, Item, Pause, StepContext, StepDefinition, Wait

__all__ = ["Advance", "Item", "Pause", "StepContext", "StepDefinition", "Wait"]
