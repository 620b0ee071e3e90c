"""The CLI layer: one module per verb. Handlers print, prompt and return exit codes.

``aiplane/cli.py`` wires command-line options to these handlers; nothing below this package prints to the
terminal or reads ``AIPLANE_*`` settings (``settings``).
"""
