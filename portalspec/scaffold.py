"""Scaffolding a new integration (``portalspec init``): the starting files, from templates.

:func:`scaffold` renders the Jinja2 templates in ``portalspec/templates/init`` for a
:class:`ScaffoldOptions` into :class:`ScaffoldFile` values (name and text, nothing written);
:func:`write_scaffold` writes them into a directory, refusing to overwrite anything unless
told. The files, as generated, validate, render, serve, pass ``portalspec test`` and pass
their own ``pytest`` (``tests/test_cli_authoring.py`` runs the whole chain through the CLI):

- ``integration.yaml``: the definition, with the yaml-language-server modeline;
- ``values.yaml``: what a customer types into the setup modal, for previews and tests;
- ``users.csv``: the portal's test users;
- ``test_integration.py``: pytest tests over the ``portalspec_destination`` fixture;
- ``integration.schema.json``: only when no ``schemas/integration.schema.json`` is found in the
  directory or above it, so the modeline always points at a schema.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path as FsPath

import jinja2

from .auth import AUTH_METHODS
from .diagnostics import InputError
from .kinds import TYPES
from .schema import HEADER_TOKEN, schema, schema_text

# The schema is where these rules live; the scaffold asks them of its answers before writing.
NAME = re.compile(schema()["properties"]["name"]["pattern"])
HEADER_NAME = re.compile(HEADER_TOKEN)
DEFAULT_BASE_URL = "https://api.example.com/v1"
SCHEMA_FILE = "integration.schema.json"
SECRET_EXAMPLES = {"api_key": "test-api-key", "secret_key": "test-secret", "bearer_token": "test-token"}
OAUTH2_GRANT = "client_credentials"  # what a scaffolded oauth2 definition uses: no refresh token to find


@dataclass(frozen=True)
class ScaffoldOptions:
    name: str
    display_name: str
    type: str = "list"
    auth: str = "bearer"
    header_name: str = "X-Api-Key"  # for auth "header"
    base_url: str = DEFAULT_BASE_URL

    def check(self) -> None:
        """Raise :class:`InputError` naming every option that would make an invalid definition."""
        problems = []
        if not NAME.match(self.name):
            problems.append(f"name {self.name!r}: lowercase letters, digits, '_' and '-', starting with a "
                            "letter or digit, at most 63 characters")
        if not self.display_name.strip() or "\n" in self.display_name:
            problems.append("display name: one non-empty line")
        if self.type not in TYPES:
            problems.append(f"type {self.type!r}: one of {', '.join(TYPES)}")
        if self.auth not in AUTH_METHODS:
            problems.append(f"auth {self.auth!r}: one of {', '.join(AUTH_METHODS)}")
        if self.auth == "header" and not HEADER_NAME.match(self.header_name):
            problems.append(f"header name {self.header_name!r}: an HTTP header name such as X-Api-Key")
        if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?$", self.base_url):
            problems.append(f"base URL {self.base_url!r}: http(s)://host[/path], without variables or a query")
        if problems:
            raise InputError("cannot scaffold:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class ScaffoldFile:
    name: str
    text: str


def default_name(directory: str | os.PathLike[str]) -> str:
    """A valid integration name from a directory's name (``My Tool`` → ``my-tool``)."""
    base = FsPath(os.path.abspath(directory)).name.lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_")[:63]
    return slug if slug and NAME.match(slug) else "my-integration"


def default_display_name(name: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-_]+", name) if part) or name


def _yaml_string(value: object) -> str:
    """A YAML scalar that reads back as this exact string (JSON strings are YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("portalspec", "templates/init"),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["yaml_string"] = _yaml_string
    return env


def find_schema(directory: str | os.PathLike[str]) -> FsPath | None:
    """``schemas/integration.schema.json`` in ``directory`` or the nearest directory above it."""
    here = FsPath(os.path.abspath(directory))
    for folder in (here, *here.parents):
        candidate = folder / "schemas" / SCHEMA_FILE
        if candidate.is_file():
            return candidate
    return None


def schema_reference(directory: str | os.PathLike[str]) -> tuple[str, list[ScaffoldFile]]:
    """The schema path for the modeline of a definition in ``directory``, and the schema file
    to write beside it when none is found above it (so the modeline always points at one)."""
    schema = find_schema(directory)
    if schema is None:
        return SCHEMA_FILE, [ScaffoldFile(SCHEMA_FILE, schema_text())]
    return os.path.relpath(schema, os.path.abspath(directory)).replace(os.sep, "/"), []


def scaffold(options: ScaffoldOptions, directory: str | os.PathLike[str] = ".") -> list[ScaffoldFile]:
    """The files of a new integration in ``directory`` (which decides the modeline's path)."""
    options.check()
    schema_path, schema_files = schema_reference(directory)
    fields = [(v.name, SECRET_EXAMPLES.get(v.name, "test-" + v.name))
              for v in AUTH_METHODS[options.auth].declared({"grant": OAUTH2_GRANT})]
    context = {"name": options.name, "display_name": options.display_name.strip(), "type": options.type,
               "auth": options.auth, "header_name": options.header_name, "base_url": options.base_url.rstrip("/"),
               "schema_path": schema_path, "fields": fields, "oauth2_grant": OAUTH2_GRANT}
    env = environment()
    files = [ScaffoldFile(name, env.get_template(name + ".j2").render(context))
             for name in ("integration.yaml", "values.yaml", "users.csv", "test_integration.py")]
    return files + schema_files


def write_scaffold(directory: str | os.PathLike[str], files: list[ScaffoldFile], *, force: bool = False) -> list[FsPath]:
    """Write ``files`` into ``directory`` (made if missing). Raise :class:`InputError`, writing
    nothing, when one exists already and ``force`` is false."""
    folder = FsPath(directory)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a directory")
    targets = [folder / f.name for f in files]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise InputError("not overwriting " + ", ".join(existing) + " (--force overwrites)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for target, file in zip(targets, files):
            target.write_text(file.text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{exc.filename or folder}: {exc.strerror or exc}") from None
    return targets
