"""landseg: land-cover segmentation for biodiversity monitoring."""

__version__ = "0.1.0"
