"""The pure core: spec, validation, rules, machine, flow, audit chain, diagrams. No I/O."""
