"""Real services for tests and benchmarks: the SeaweedFS S3 store and the kwok control plane."""
