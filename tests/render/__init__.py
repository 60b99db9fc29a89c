"""Rendering the card gallery to PNG with the official Adaptive Cards renderer."""
