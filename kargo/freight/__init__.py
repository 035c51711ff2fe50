"""Freight identity and creation from discovered artifacts."""
