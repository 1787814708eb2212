"""Icons, style sheets and bundled reference data, read with importlib.resources."""
