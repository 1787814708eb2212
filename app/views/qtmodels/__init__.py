"""Qt item models fed by services (tables, trees) kept apart from the widgets that show them."""
