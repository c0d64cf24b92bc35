"""Imports switch_on_import from its own top-level code, so a greenlet that
imports this module is suspended inside two nested imports (H4)."""
OUTER_BEFORE = True
from hard_data import switch_on_import as inner  # noqa: E402  (suspends)
OUTER_AFTER = inner.RECEIVED
