"""placehealth: find and close health inequalities in Primary Care Networks and neighbourhoods.

Data flows one way: sources -> store -> measures -> analyses -> outputs.
"""

__version__ = "0.1.0"
