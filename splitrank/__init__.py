"""splitrank: edge-and-cloud split inference for recommendation ranking.

This package holds what every part shares without heavy dependencies: the model bundle format,
settings, and the ``splitrank`` command line. The client SDK lands here too.
"""

__version__ = "0.1.0"
