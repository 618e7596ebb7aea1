"""比对核验 (verification): match a consumer's records against a provider's, by ID and name.

`ids` and `names` normalise the two keys people are matched on, so that the same person
written two ways by two systems still links.
"""
