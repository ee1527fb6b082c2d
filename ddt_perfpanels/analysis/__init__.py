"""Pure functions from recorded data to findings: no database access."""
