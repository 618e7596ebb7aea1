"""zhili (城市智理): the data sharing and exchange platform of a city's big-data bureau."""

__version__ = "0.1.0"
