"""Text utilities at the bottom of the stack: sentence splitting, CJK handling, numbers."""
