"""The stack file's sections, one module each; ``aiplane.stack.models`` re-exports them."""
