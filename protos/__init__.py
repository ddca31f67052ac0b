"""splitrank wire contracts: the .proto files under ``protos/v1`` and their generated Python.

Regenerate with ``python -m protos.generate``; a test fails when the committed code is stale.
This package imports nothing else of splitrank.
"""
