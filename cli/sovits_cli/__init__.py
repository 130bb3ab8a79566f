"""The `sovits` command: the one composition root that wires the components together."""
