"""The shared core: the TrainingTask model, the step catalog and contract, parameters, settings,
the storage layout and the pure reconcile. It imports nothing else of ours (import-linter checks).
"""

__version__ = "0.1.0"
