"""The exchange: grants (授权) that decide which fields and rows a consumer reads, and how
personal items are masked (:mod:`~zhili.exchange.rowfilter`, :mod:`~zhili.exchange.masking`).
"""
