"""The compute network: sites, prices, links, quotes and placement across sites.

>>> from suanli.network.sites import load_network
>>> net = load_network()
>>> net.site("cn-zhongwei").pue
1.2

Modules: ``descriptor`` (the versioned site schema), ``sites`` (loading, joining), ``links``,
``pricing``, ``carbon``, ``durations`` (the one door to the perf model), ``jobs``, ``options``
(the option table), ``quote``, ``placement`` (MILP and heuristic), ``place``, ``eastwest``,
``crosssite``, ``charts``.
"""
