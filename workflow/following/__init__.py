"""Following onboardings: events, subscribers, forwarding, metrics, logs."""
