"""Importers. Each source has a folder with the same steps: get (read), transform (pure, to
model objects), load (batched writes through the store) and, for sources that sync, cleanup."""
