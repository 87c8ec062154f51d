"""aiq: business insight for med spas from Aesthetic Record, with no patient data."""

__version__ = "0.1.0"
