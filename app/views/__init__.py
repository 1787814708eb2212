"""Qt widgets, dialogs and item models: the only layer that imports Qt widgets."""
