"""The model steps 5-11, run through upstream GPT-SoVITS's own scripts.

Upstream is not imported: each step builds a per-run working tree that looks like an
upstream checkout (``runtree``), writes upstream's inputs (``annotations``, ``configs``),
starts the script as webui would (``process``, ``environment``), mirrors checkpoints to the
store while it runs (``mirror``), and then checks the files it should have written, because
upstream exits 0 when items or exports failed (``steps``). ``shards`` merges the per-shard
tables. The reference for every name and trap is shared/reference/upstream-gpt-sovits.md.
"""
