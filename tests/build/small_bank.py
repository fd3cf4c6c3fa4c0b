"""Where the build tests' fixtures live (importable from the tests of this folder)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SMALL_BANK = FIXTURES / "banks" / "small"
FROZEN_GRADERS = FIXTURES / "build" / "graders"
GOLDENS = Path(__file__).resolve().parent / "goldens"
