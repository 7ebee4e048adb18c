"""Streamlit helpers of the app (the page frame, session keys, widgets); the library in studio/ never imports these."""
