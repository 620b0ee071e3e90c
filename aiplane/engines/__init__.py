"""Knowledge about inference engines (flag tables, version rules), below both stack checks and render."""
