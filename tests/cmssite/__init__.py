"""Application code that uses the installed treecms package."""
