"""Keeping the store in sync with Microsoft 365: Graph, Entra ID and Dataverse.

``auth`` gets app-only tokens, ``client`` speaks HTTP (paging, throttling, retries),
``mapping`` turns Graph JSON into :class:`signals.records.InteractionRecord`,
``leases`` hands mailboxes to workers, and ``sync`` runs it all.
"""
