"""AI gateway targets: which one enforces a route, and what each can enforce."""
