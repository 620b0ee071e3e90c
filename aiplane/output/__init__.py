"""Plan output for people and machines: human text, JSON, markdown, and the stack-level summary.

Every line passes through the run's ``Scrubber`` (``aiplane.secrets``) before it is printed.
"""
