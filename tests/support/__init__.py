"""Helpers shared by the tests: clients, environments, fault injection, polling.

Fixtures stay in the conftest.py files; what a test imports lives here. Launching servers
and making databases is deploy/'s (deploy/launch.py, deploy/databases.py), shared with the
benchmark.
"""
