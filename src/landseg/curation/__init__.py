"""Dataset curation: class remapping, OpenEarthMap import, combination, statistics, filtering.

Every command that changes a dataset plans its file operations into a journal first
(:mod:`landseg.curation.journal`), applies them atomically, can be resumed after a crash and
undone byte for byte.
"""
