"""sovits-operator: the TrainingTask model, the step catalog, reconciliation and the CLI."""

__version__ = "0.1.0"
