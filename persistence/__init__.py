"""SQL persistence of onboardings: checkpoints, the append-only audit log and step attempts."""

__all__: list[str] = []
