"""The sample values a check renders with: given ones, generated ones, and hostile variants.

A definition is checked by rendering its requests, so it needs values for every field, a
cohort, users and a list id. What the caller gives (``--values``, ``--users``) is used as
given. Everything else is generated, in two steps:

1. :meth:`SamplePlan.marked`: every text variable gets a *marker* (``psm3x0q``: lowercase
   letters and digits, so it survives every encoder, a host label included). The check
   renders that sample and finds where each marker lands — a header, a query or path
   parameter, a place in the body — and the description's schema there.
2. :meth:`SamplePlan.samples`: each generated variable takes what its schema offers (its
   ``example``, ``enum``, a value for its ``format``: :func:`.schemas.sample`), else a plain
   default; a base-URL field takes the description's server; a select field takes its first
   option, and each other option makes a sample of its own. Then, for each text variable
   whose every place accepts any string (:func:`.schemas.accepts_any_string`), one sample
   per :data:`HOSTILE` value.

Each :class:`Sample` knows which of its texts were generated (``generated``), so a failure
caused only by one is reported as such, never as an error of the definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from jsonschema_path import SchemaPath

from ..kinds import ADD, REMOVE
from ..model import CustomField, Definition
from ..values import Cohort, User, UserSource, Values
from . import schemas

MARKER = re.compile(r"psm(\d+)x(\d+)q")
USERS_PER_OPERATION = 2
MAX_OPTION_SAMPLES = 20

# Hostile text: what a cohort name, a user id or a typed field can hold. Each becomes a
# sample of its own for a variable whose every place accepts any string.
HOSTILE: tuple[tuple[str, str], ...] = (
    ("quotes", "Ann \"the\" O'Brien \\ </b> & 'x'"),
    ("non-ASCII text", "Zoë Ünal — 東京 🎉"),
    ("a long string", "long " * 200),
    ("numbers as text", "12345"),
)

# Where a variable lands, as the marked render found it: each place's schemas, and whether
# the variable was the whole string there (``"$email"``) or part of one (``"[A] $name"``).
Place = tuple[Sequence[SchemaPath], bool]
Locations = Mapping[str, Sequence[Place]]

_COHORT = ("amp_cohort_name", "amp_cohort_id")


@dataclass(frozen=True)
class Sample:
    """Values, users and a list id to render with. ``label`` names it in messages;
    ``generated`` holds the texts no one gave; ``variant`` names what makes it differ from
    the first sample (an option, a hostile value), None for the first."""

    label: str
    values: Values
    users: Iterable[User] | UserSource
    list_id: str | int | None = None
    generated: frozenset[str] = frozenset()
    variant: str | None = None
    hostile: bool = False


@dataclass
class SamplePlan:
    """Which variables are generated for ``definition`` and how, given what the caller gave."""

    definition: Definition
    given: Values | None = None
    users: UserSource | Sequence[User] | None = None
    servers: Sequence[str] = ()
    markers: list[str] = field(default_factory=list)  # variable of each marker index

    def __post_init__(self) -> None:
        given = self.given.fields if self.given else {}
        self.generated_fields = [f for f in self.definition.custom_fields
                                 if f.variable not in given and f.default is None and not f.options]
        self.auth = [v.name for v in self.definition.auth.scheme.variables if v.name not in given]
        self.cohort_generated = (self.given is None or self.given.cohort is None) and \
            not (isinstance(self.users, UserSource) and self.users.cohort is not None)
        self.users_generated = self.users is None
        self.mapping = [m.variable for m in self.definition.mapping_fields]
        texts = [f.variable for f in self.definition.custom_fields
                 if f.type == "string" and not f.options and not f.secret]
        # A users file that names its cohort (the test CSV) must agree with the values: its
        # cohort name is then left as it is.
        users_cohort = isinstance(self.users, UserSource) and self.users.cohort is not None
        self.free_text = ([] if users_cohort else ["amp_cohort_name"]) + texts + \
            (self.mapping if self.users_generated else [])
        marked = [f.variable for f in self.generated_fields if f.type == "string"] + self.auth + \
            (list(_COHORT) if self.cohort_generated else []) + self.free_text
        self.markers = list(dict.fromkeys(marked))

    # --- step 1 -----------------------------------------------------------------------
    def marker(self, variable: str, user: int = 0) -> str:
        return f"psm{self.markers.index(variable)}x{user}q"

    def variable_of(self, marker: str) -> str | None:
        found = MARKER.fullmatch(marker)
        return self.markers[int(found.group(1))] if found and int(found.group(1)) < len(self.markers) else None

    def marked(self) -> Sample:
        """A sample with a marker for every text variable, to find where each lands."""
        return self._sample("markers", lambda name, user=0: self.marker(name, user),
                            override=lambda name: name in self.markers)

    # --- step 2 -----------------------------------------------------------------------
    def samples(self, located: Locations, list_id: str | int | None = None) -> list[Sample]:
        """The first sample (given values, and what the description offers for the rest),
        one per other select option, one per hostile value of each free-text variable."""

        def chosen(name: str, user: int = 0) -> Any:
            for schema_nodes, whole in located.get(name, ()):
                if whole:
                    for node in schema_nodes:
                        value = schemas.sample(node, user)
                        if isinstance(value, str) and value:
                            return value
            return _default(name, user)

        first = self._sample("sample values" if self._generates else "given values", chosen, list_id)
        out = [first]
        for f in self.definition.custom_fields:
            if f.options and (self.given is None or f.variable not in self.given.fields):
                for option in f.options[1:]:
                    if len(out) > MAX_OPTION_SAMPLES:
                        break
                    values = replace(first.values, fields={**first.values.fields, f.variable: option.value})
                    out.append(replace(first, label=f"option '{option.label}' of ${f.variable}", values=values,
                                       variant=f.variable))
        for name in self.free_text:
            places = located.get(name, ())
            if not places or not all(nodes and all(schemas.accepts_any_string(n) for n in nodes)
                                     for nodes, _ in places):
                continue
            for what, text in HOSTILE:
                def hostile(var: str, user: int = 0, _name: str = name, _text: str = text) -> Any:
                    return (_text if user == 0 else f"{_text}{user + 1}") if var == _name else chosen(var, user)
                sample = self._sample(f"{what} in ${name}", hostile, list_id, override=lambda var, n=name: var == n)
                out.append(replace(sample, variant=name, hostile=True))
        return out

    @property
    def _generates(self) -> bool:
        return bool(self.generated_fields or self.auth or self.cohort_generated or self.users_generated)

    def _sample(self, label: str, value: Any, list_id: str | int | None = None,
                override: Any = lambda name: False) -> Sample:
        """A sample whose generated variables (and those ``override`` names) take ``value(name,
        user)``; the rest keep what was given."""
        generated: set[str] = set()

        def take(name: str, user: int = 0) -> Any:
            text = value(name, user)
            if isinstance(text, str):
                generated.add(text)
            return text

        fields: dict[str, Any] = dict(self.given.fields) if self.given else {}
        for f in self.definition.custom_fields:
            if f in self.generated_fields:
                fields[f.variable] = take(f.variable) if f.type == "string" else _typed(f, self.servers)
            elif f.type == "string" and not f.options and override(f.variable):
                fields[f.variable] = take(f.variable)
            elif f.variable not in fields and f.options:
                fields[f.variable] = f.options[0].value
        for name in self.auth:
            fields[name] = take(name)
        cohort = _cohort_of(self.given, self.users)
        if self.cohort_generated:
            cohort = Cohort(take("amp_cohort_id"), take("amp_cohort_name"))
        elif cohort is not None and override("amp_cohort_name") and "amp_cohort_name" in self.free_text:
            cohort = replace(cohort, name=take("amp_cohort_name"))
        mappings = dict(self.given.mappings) if self.given and self.given.mappings else \
            {m: m for m in self.mapping}
        users: Iterable[User] | UserSource
        if self.users_generated:
            users = tuple(User(op, {m: take(m, u) for m in self.mapping}, f"sample user {u + 1}")
                          for op in (ADD, REMOVE) for u in range(USERS_PER_OPERATION))
        else:
            assert self.users is not None
            users = self.users
        list_given = self.given.list_id if self.given else None
        if list_id is not None and list_given is None and isinstance(list_id, str):
            generated.add(list_id)
        values = Values(fields, mappings, cohort, list_given)
        return Sample(label, values, users, None if list_given is not None else list_id, frozenset(generated))


def _cohort_of(given: Values | None, users: Any) -> Cohort | None:
    if given is not None and given.cohort is not None:
        return given.cohort
    return users.cohort if isinstance(users, UserSource) else None


def _default(name: str, user: int) -> str:
    """A plain text for a variable the description offers nothing for: lowercase letters,
    digits and ``-``, so it fits a host label and a path segment alike."""
    if name == "amp_cohort_name":
        return "Sample cohort"
    if name == "amp_cohort_id":
        return "s4mp1e"
    return f"sample-{name.replace('_', '-')}" + (f"-{user + 1}" if user else "")


def _typed(f: CustomField, servers: Sequence[str]) -> Any:
    """A number field's 1, a boolean's true, a base URL's first absolute server origin."""
    if f.type == "number":
        return 1
    if f.type == "boolean":
        return True
    if f.type == "origin":
        for server in servers:
            parts = urlsplit(server)
            if parts.scheme in ("http", "https") and parts.netloc and "{" not in parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
        return "https://api.example.com"
    return _default(f.variable, 0)
