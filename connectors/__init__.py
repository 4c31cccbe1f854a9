"""How Perimeter talks to the services: the one Graph client factory (msgraph-sdk's adapter and
middleware), the CIPP-API client, their credentials and the one pacing/retry policy, and the catalogue
of what is read from each tenant (``sources``). Used by the collectors (reads) and the fixes (writes);
imports storage only for the ingest path's page decoder (``db.rows``), never collectors, fixes or UI.
"""
