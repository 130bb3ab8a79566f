"""The Kubernetes adapter the operator and the API share: client set-up (kubeconfig or in-cluster,
one order everywhere), error mapping, timeouts, and the newest-body cache their watches feed.
"""
