"""Providers: each backend's read, plan, apply and wait (``base``), looked up by name (``registry``).

Kubernetes is the first provider (``kubernetes``); ``node-labels`` labels existing nodes through
the same client. See ``base`` for the protocol and docs/adding-a-provider.md for a checklist.
"""
