"""`sovits local`: the seed's API over a SQLite task store, with the pipeline run as child processes
on one machine (the runtime carries out the core's reconcile as the operator does with Jobs).
"""
