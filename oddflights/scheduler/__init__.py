"""The nightly run (catch-up, locking) and the scheduler service that starts it."""
