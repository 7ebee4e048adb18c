"""Cleaning operations, recipes, undo/redo, the dataset editor and the Dataset page's session."""
