"""The step runner (the step images' entrypoint) and one module per pipeline step."""
