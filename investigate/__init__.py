"""Investigation of sign-ins, as pure functions (no database, no Streamlit).

- :mod:`investigate.codes` — what a sign-in error code means, grouped into reasons;
- :mod:`investigate.network` — IPs and CIDRs: sortable keys for range filters, named-location membership;
- :mod:`investigate.explain` — a failed sign-in explained in words, its related findings and the fix
  it offers;
- :mod:`investigate.advice` — what each Conditional Access result of a sign-in means, and what to do;
- :mod:`investigate.timeline` — the investigation timeline's bucket width and axis format;
- :mod:`investigate.filters` — the investigation's filters and their URL form;
- :mod:`investigate.mfa` — MFA coverage of a tenant from collected data and posture findings;
- :mod:`investigate.wall` — the wall display's arithmetic (freshness levels, change, rotation).
"""
