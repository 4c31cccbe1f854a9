"""The checks of catalogue v1, one module per layer of the perimeter (see posture.catalogue)."""
