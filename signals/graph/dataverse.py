"""Dynamics 365 leads and contacts from the Dataverse Web API -> :class:`CrmEntry`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signals.crm import CrmEntry

API = "api/data/v9.2"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
HEADERS = {
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
}
ENTITIES: dict[str, tuple[str, str]] = {
    # source -> (entity set, $select)
    "lead": (
        "leads",
        "leadid,fullname,emailaddress1,emailaddress2,emailaddress3,companyname,subject,"
        "telephone1,_ownerid_value",
    ),
    "contact": (
        "contacts",
        "contactid,fullname,emailaddress1,emailaddress2,emailaddress3,telephone1,"
        "_parentcustomerid_value,_ownerid_value",
    ),
}


OWNER_EXPAND = "owninguser($select=azureactivedirectoryobjectid,internalemailaddress)"
"""The owning user of each record (a team-owned record has none): who it is assigned to."""


def entity_path(source: str) -> str:
    return f"{API}/{ENTITIES[source][0]}"


def entity_params(source: str) -> dict[str, str]:
    return {"$select": ENTITIES[source][1], "$expand": OWNER_EXPAND}


def crm_entry(source: str, row: Mapping[str, Any]) -> CrmEntry | None:
    """A lead or contact row; rows without an id are skipped."""
    crm_id = row.get(f"{source}id")
    if not crm_id:
        return None
    emails = [
        str(row[k]) for k in ("emailaddress1", "emailaddress2", "emailaddress3") if row.get(k)
    ]
    company = row.get("companyname") or row.get(f"_parentcustomerid_value{FORMATTED}")
    owner = row.get("owninguser")
    owner = owner if isinstance(owner, Mapping) else {}
    owner_email, owner_entra = (
        owner.get("internalemailaddress"),
        owner.get("azureactivedirectoryobjectid"),
    )
    return CrmEntry(
        source=source,
        crm_id=str(crm_id),
        full_name=str(row.get("fullname") or ""),
        emails=emails,
        company_name=str(company) if company else None,
        topic=row.get("subject"),
        phone=row.get("telephone1"),
        owner_email=str(owner_email) if owner_email else None,
        owner_entra_id=str(owner_entra) if owner_entra else None,
    )
