"""The learning loop's serving side: promoting a gated candidate model and rolling back."""
