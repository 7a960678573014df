"""Where the tests find the project and the real data: defined once, imported by conftest and the helpers."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
