"""Streamlit-only helpers for the pages; the library (studio/) never imports this package."""
