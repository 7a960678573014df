"""The leaf every other package may import: shared errors, Hugging Face resolution, the data<->model contract.

It imports nothing of this project (tests/foundation/test_import_layers.py checks), so `data_modules`, `models` and
`lightning_app`
can all depend on it without a cycle.
"""
