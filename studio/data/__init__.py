"""The canonical frame and the files it comes from and goes to: formats, readers, writers."""
