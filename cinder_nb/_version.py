"""cinder_nb's version (written into every state document)."""
__version__ = '0.1.0'
