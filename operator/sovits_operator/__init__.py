"""The kopf operator: watches TrainingTasks, runs the core's reconcile and turns its decisions into
Kubernetes Jobs.
"""
