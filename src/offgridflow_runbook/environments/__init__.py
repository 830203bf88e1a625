"""Environments are made here; platforms operate them. :mod:`.local` is the Docker stack
(``make up``), :mod:`.kind` a kind cluster driven through pytest-kind (``make kind-up``, the kind tier)."""
