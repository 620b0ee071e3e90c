"""The provider-neutral plan core: addresses, the plan value, one decision rule and the engine.

Nothing here speaks HTTP or knows Kubernetes. Providers (``aiplane.providers``) read live state
and apply changes; this package decides, orders, gates and checks freshness for all of them.
"""
