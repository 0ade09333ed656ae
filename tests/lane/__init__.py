"""A second, tiny domain used by the engine tests: a search-indexing lane with fan-out and fan-in.

It lives only in the test settings and shows that ``pipelines`` needs nothing from ``checkout``.
"""
