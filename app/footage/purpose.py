"""What a request is for: its legal basis, its offense category, and the purposes it must never serve.

Each agency has an offense-category taxonomy (keys with labels) and a list of prohibited
purposes, both kept on its policy (app/footage/policy.py; null there means the defaults
below). A request names its legal basis (voluntary, warrant with number and court,
exigent with the reason), one category key of the taxonomy, and carries the officer's
affirmation that none of the prohibited purposes applies: the request stores the list as
it was shown, so a later edit of the list does not change what was affirmed.

Owners read the legal basis and the category on the ask; the labels of the default
taxonomy are translated for them (``category_label``), an agency's own labels are shown
as the agency wrote them.
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext, lazy_gettext

from app.errors import field_error

# The default taxonomy: broad enough that "other" is rare, coarse enough that a category
# counted on the public report never points at one case.
DEFAULT_OFFENSE_CATEGORIES: tuple[dict[str, str], ...] = (
    {"key": "homicide", "label": "Homicide"},
    {"key": "robbery", "label": "Robbery"},
    {"key": "burglary", "label": "Burglary"},
    {"key": "assault", "label": "Assault"},
    {"key": "theft", "label": "Theft"},
    {"key": "vehicle_theft", "label": "Vehicle theft"},
    {"key": "hit_and_run", "label": "Hit and run"},
    {"key": "vandalism", "label": "Vandalism"},
    {"key": "missing_person", "label": "Missing person"},
    {"key": "arson", "label": "Arson"},
    {"key": "fraud", "label": "Fraud"},
    {"key": "other", "label": "Other"},
)

# The default labels in the owner's language (the English label is the message id).
CATEGORY_WORDS = {
    "homicide": lazy_gettext("Homicide"), "robbery": lazy_gettext("Robbery"), "burglary": lazy_gettext("Burglary"),
    "assault": lazy_gettext("Assault"), "theft": lazy_gettext("Theft"),
    "vehicle_theft": lazy_gettext("Vehicle theft"), "hit_and_run": lazy_gettext("Hit and run"),
    "vandalism": lazy_gettext("Vandalism"), "missing_person": lazy_gettext("Missing person"),
    "arson": lazy_gettext("Arson"), "fraud": lazy_gettext("Fraud"), "other": lazy_gettext("Other"),
}

# Worded as what the footage is used for, so that an investigation of a crime that happens
# to involve, say, a protest is not barred, but watching the protest is.
DEFAULT_PROHIBITED_PURPOSES: tuple[str, ...] = (
    "Immigration enforcement: finding, identifying or investigating a person because of their immigration status.",
    "Monitoring or identifying people for exercising rights protected by the First Amendment, such as taking part "
    "in a protest or demonstration, practising a religion, or speaking, writing or assembling.",
    "Investigating or identifying a person for seeking, providing or helping someone obtain reproductive health "
    "care (including abortion) or gender-affirming health care.",
    "Identifying, tracking or singling out a person based only on a protected characteristic such as race, "
    "ethnicity, national origin, religion, sex, sexual orientation, gender identity or disability.",
)

LEGAL_BASES = ("voluntary", "warrant", "exigent")
# What owners read of the legal basis (not the warrant number or the exigent reason: a
# warrant may be sealed, and the reason is written for the supervisor, not for owners).
LEGAL_BASIS_WORDS = {
    "voluntary": lazy_gettext("Voluntary request: you are free to say no."),
    "warrant": lazy_gettext("Warrant"),
    "exigent": lazy_gettext("Exigent circumstances (an emergency)"),
}


def offense_categories(policy: Any) -> list[dict[str, str]]:
    """The agency's taxonomy as it applies now (the default one until a supervisor edits it)."""
    stored = getattr(policy, "offense_categories", None)
    return [dict(c) for c in (stored if stored is not None else DEFAULT_OFFENSE_CATEGORIES)]


def prohibited_purposes(policy: Any) -> list[str]:
    stored = getattr(policy, "prohibited_purposes", None)
    return list(stored if stored is not None else DEFAULT_PROHIBITED_PURPOSES)


def category_label(key: str, label: str) -> str:
    """A request's category as an owner reads it: a default label translated, an agency's own as written."""
    default = next((c["label"] for c in DEFAULT_OFFENSE_CATEGORIES if c["key"] == key), None)
    if default is not None and default == label:
        return str(CATEGORY_WORDS[key])
    return label


def legal_basis_words(basis: str, court: str | None = None) -> str:
    if basis == "warrant" and court:
        return gettext("Warrant issued by %(court)s", court=court)
    return str(LEGAL_BASIS_WORDS[basis])


def purpose_fields(policy: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The purpose columns of a new request from the officer's input; a 422 naming the field otherwise.

    The schema has checked the shapes (and the conditional warrant/exigent fields); this
    checks what only the agency's policy knows: the category is one of its keys, and the
    affirmation covers its list.
    """
    categories = {c["key"]: c["label"] for c in offense_categories(policy)}
    key = data["offense_category"]
    if key not in categories:
        raise field_error("offense_category", f"'{key}' is not one of your agency's offense categories: "
                                              f"{', '.join(categories)}.")
    if data.get("affirm_no_prohibited_purpose") is not True:
        raise field_error("affirm_no_prohibited_purpose",
                          "Affirm that none of your agency's prohibited purposes applies to this request.")
    basis = data["legal_basis"]
    return {
        "legal_basis": basis,
        "warrant_number": data.get("warrant_number") if basis == "warrant" else None,
        "warrant_court": data.get("warrant_court") if basis == "warrant" else None,
        "exigent_reason": data.get("exigent_reason") if basis == "exigent" else None,
        "offense_category": key,
        "offense_category_label": categories[key],
        "prohibited_purposes_affirmed": prohibited_purposes(policy),
    }


def check_taxonomy(categories: list[dict[str, str]]) -> None:
    """A taxonomy a supervisor sets: unique keys (labels are free text)."""
    seen: set[str] = set()
    for i, category in enumerate(categories):
        if category["key"] in seen:
            raise field_error("offense_categories", f"The key '{category['key']}' appears twice (item {i + 1}).")
        seen.add(category["key"])
