"""Tenant text made inert for each place it is shown: one rule per output, used everywhere.

Text written by someone else (tenant, policy, user, app and CIPP client names) is data, never markup,
a link, a formula or a terminal escape. Each module here is the one place that rule lives for one kind
of output; this package imports nothing of Perimeter, so every layer may use it.
"""
