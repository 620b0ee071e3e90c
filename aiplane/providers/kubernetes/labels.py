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
OWNERSHIP_ANN = "aiplane.dev/ownership"
"""Annotation (render only; stripped before apply): ``fields`` on an object that other stacks or
another tool share. Each stack owns only the fields it sets, under its own field manager; the
object gets no ownership labels and is never deleted while anyone else holds part of it."""
OWNERSHIP_FIELDS = "fields"
MERGE_ANN = "aiplane.dev/merge-entries"
"""Annotation (render only): ``KEY:MAP`` on a shared ConfigMap whose data key ``KEY`` holds one
YAML document, with map ``MAP`` gathering named entries from every stack (the GPU Operator reads
one mig-parted file, so stacks cannot each own a key). Which entries a stack set is recorded on
the object in annotation ``MAP.aiplane.dev/STACK``."""
CREATE_DEFAULTS_ANN = "aiplane.dev/create-defaults"
"""Annotation (render only): comma-separated paths (``spec.driver,...``) that are sent only when
the object does not exist yet, under a field manager no stack owns: values the schema requires
but no stack means to set on an object someone else installed. A path written ``+PATH`` is
required at create and set by the stack as well: it is sent in both requests."""
