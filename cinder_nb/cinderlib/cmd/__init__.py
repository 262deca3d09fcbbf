"""cinderlib's command helpers."""
