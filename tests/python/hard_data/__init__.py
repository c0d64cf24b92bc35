"""Helper modules for test_hard_cases (H4): modules whose top-level code
switches greenlets while it is being imported.  Nothing here is a test;
each module is imported by a greenlet and removed from sys.modules again
by the test that imported it."""
