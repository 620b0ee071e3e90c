"""The contract between render and the Kubernetes provider: labels, annotations, pseudo-kinds.

Render writes these on the objects it produces; the provider reads them to own, link and diff the
objects. Both import them from here, and nothing else spells them out.
"""

from __future__ import annotations

MANAGED_BY = "app.kubernetes.io/managed-by"
"""Label: ``aiplane`` on everything aiplane applies."""
STACK_LABEL = "aiplane.dev/stack"
"""Label: the stack's name."""
SOURCE_ANN = "aiplane.dev/source"
"""Annotation (render only; stripped before apply): ``FILE#Lline`` of the stack entry."""
SUBJECT_ANN = "aiplane.dev/subject"
"""Annotation: the stack-level thing an object belongs to (``model llama v2.1``)."""
IMMUTABLE_ANN = "aiplane.dev/immutable-fields"
"""Annotation: comma-separated JSON paths of a collection document that force a replace."""
DRIFT_ANN = "aiplane.dev/expected-drift"
"""Annotation: ``PATH=OWNER; ...`` fields other controllers own (see ``drift``)."""
PART_OF = "applyset.k8s.io/part-of"
"""Label: the ApplySet id of the stack that owns an object (KEP-3659)."""
LOCK_PURPOSE_ANN = "aiplane.dev/lock-purpose"
"""Annotation on the stack's Lease: what the holder is doing."""
WEIGHTS_ANN = "aiplane.dev/weights"
"""Annotation on weighted routes: ``term=percent,...`` in stack terms (``v2.0=90,v2.1=10``)."""
RENDER_RECORD = ".aiplane-render"
"""File ``render -o DIR`` keeps in DIR: what it wrote, and each folder's node labels."""
NODE_LABELS_KIND = "NodeLabels"
NODE_LABELS_API = "aiplane.dev/v1alpha1"
"""The pseudo-kind render emits for labels on existing nodes (the node-labels provider)."""
