"""Operating onboardings: start, resume, retry, rewind, cancel, amend, bulk, audit checks."""
