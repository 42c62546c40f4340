"""flowstacks doctor: what a stack needs that it does not create."""
