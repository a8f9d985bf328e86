"""ichtrain: the ICH detector's training toolkit (PyTorch; runs in Training/.venv only)."""
