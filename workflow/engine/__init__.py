"""Running onboardings: the executor, the worker, the callback receiver."""
