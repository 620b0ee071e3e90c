"""The GitOps loop: pull-mode rendering for Argo CD and Flux, and the GitHub Action's logic.

``pull``/``argocd``/``flux``: ``aiplane render --offline`` (pure: reads the repository only).
``github``/``comment``/``action``: the PR plan comment, the check run and apply-on-merge.
"""
