"""One module per vendor connector; `registry` finds them (filled from the integrations app's ready())."""
