"""The tools behind `main.py export`, `report` and `lm-report`."""
