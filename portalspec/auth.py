"""Auth methods: the table of how a destination is authenticated, one class per method.

Each entry declares everything the pipeline needs to know about its method:

- its variables (all secret: an auth variable is a credential) and which are required;
- the header it sends and how that header's value is built from the variables;
- the *derived* forms of its secrets it sends besides the secrets as typed (basic auth's
  base64 credential), so the one redactor hides those too and rendering can mask them;
- its curl form, where curl has a better spelling than ``-H`` (``-u`` for basic auth);
- how ``portalspec serve`` checks a request's header against the expected credentials;
- its OpenAPI security scheme, which ``portalspec openapi`` writes and from which
  ``portalspec init --from-openapi`` finds the method back (:func:`auth_for_scheme`);
- its *runtime* variables: values only the transport learns, when it sends (OAuth2's access
  token). Rendering is pure, so it shows each as a placeholder (``$<NAME>_ACCESS_TOKEN`` in
  curl and HAR); the transport puts the real value in as it sends (see :mod:`portalspec.oauth2`).

Adding a method like the four first below means a class here, an entry in
:data:`AUTH_METHODS`, the schema's ``auth.method`` enum and the docs; nothing else. OAuth2
(beyond the portal's form, PS515) also has a token endpoint, which lives in
:mod:`portalspec.oauth2` (the token source for senders, the token issuer for serve).

An endpoint may have its own auth (a second credential, on another host): the same methods
but oauth2, their variables read from secret custom fields instead (:class:`Auth` ``fields``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from .diagnostics import InputError
from .template import SubstitutionError, as_text, encode_header

AUTHORIZATION = "Authorization"


# OAuth2's runtime variable: the transport fills it in as it sends. A runtime name starts with
# "@", so that no declared variable (a custom field named access_token, as Meta's) is taken for
# it; curl and HAR still name it <NAME>_ACCESS_TOKEN (variables.env_name drops the "@").
ACCESS_TOKEN = "@access_token"


@dataclass(frozen=True)
class AuthVariable:
    name: str
    display_name: str
    required: bool = True
    # Declared only under these settings of the definition's auth: (("grant", "refresh_token"),).
    when: tuple[tuple[str, str], ...] = ()
    # A credential the provider may replace as it is used (a rotating refresh token). It may
    # come from the environment (``<NAME>_<VARIABLE>``), where a secret store can keep it
    # current, and it does not tell one destination from another in sync state.
    rotates: bool = False


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so a wrong guess takes as long as a nearly right one."""
    import hmac  # here: only serve compares secrets, and every command imports this module (3 ms)

    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _header_text(value: Any, variable: str, header: str) -> str:
    try:
        return encode_header(value)
    except SubstitutionError as exc:
        raise InputError(f"${variable} in the auth header {header}: {exc}") from None


class AuthMethod:
    """One auth method. Stateless: the definition's own settings come in as ``header_name``."""

    name: ClassVar[str]
    variables: ClassVar[tuple[AuthVariable, ...]] = ()
    credential: ClassVar[str] = ""  # how messages name what the header carries
    runtime: ClassVar[tuple[str, ...]] = ()  # variables only the transport knows, as it sends

    def declared(self, settings: Mapping[str, Any]) -> tuple[AuthVariable, ...]:
        """The variables this method declares under the definition's auth ``settings``."""
        return tuple(v for v in self.variables if all(settings.get(key) == value for key, value in v.when))

    def header(self, header_name: str | None) -> str | None:
        """The header this method sends, or None when it sends none."""
        return None

    def value(self, env: Mapping[str, Any], header_name: str | None) -> str:
        """The header's value from the resolved variables. Raises :class:`InputError`."""
        raise NotImplementedError

    def derived(self, env: Mapping[str, Any]) -> tuple[str, ...]:
        """Forms of the secrets that the header carries other than as typed."""
        return ()

    def accepts(self, given: str, env: Mapping[str, Any]) -> bool:
        """serve: ``given`` (the header's value on a request) carries the expected credentials."""
        raise NotImplementedError

    def curl(self, value: str, masked: str | None, env_names: Callable[[str], str]) -> str | None:
        """A curl option sending the header's ``value``, where curl has one better than ``-H``.
        ``masked`` is the sentinel that stands for this method's derived credential, if any;
        ``env_names`` names the shell variable of each of its variables ("": none)."""
        return None

    def security_scheme(self, header_name: str | None, settings: Mapping[str, Any] | None = None
                        ) -> dict[str, Any] | None:
        """Its OpenAPI security scheme object, or None when it sends no credential.
        ``settings`` are the definition's (:attr:`Auth.settings`), for a method that needs them."""
        return None

    def from_scheme(self, scheme: Mapping[str, Any]) -> "Auth | None":
        """This method's auth for an OpenAPI security scheme it sends, else None: read back from
        :meth:`security_scheme`, so the two directions cannot disagree."""
        essential = {key: scheme[key] for key in ("type", "scheme", "in", "name") if scheme.get(key) is not None}
        if isinstance(essential.get("scheme"), str):  # HTTP auth scheme names are case-insensitive
            essential["scheme"] = str(essential["scheme"]).lower()
        name = scheme.get("name")
        header_name = name if isinstance(name, str) and name else None
        if self.security_scheme(header_name) != essential:
            return None
        return Auth(self.name, header_name if self.header(header_name) == header_name else None)


class NoAuth(AuthMethod):
    name = "none"


class BasicAuth(AuthMethod):
    name = "basic"
    variables = (AuthVariable("api_key", "API Key"), AuthVariable("secret_key", "API Secret", required=False))
    credential = "basic credentials"

    def header(self, header_name: str | None) -> str | None:
        return AUTHORIZATION

    @staticmethod
    def _pair(env: Mapping[str, Any]) -> str:
        return f"{as_text(env.get('api_key', ''))}:{as_text(env.get('secret_key', ''))}"

    def derived(self, env: Mapping[str, Any]) -> tuple[str, ...]:
        return (base64.b64encode(self._pair(env).encode("utf-8")).decode("ascii"),)

    def value(self, env: Mapping[str, Any], header_name: str | None) -> str:
        return "Basic " + self.derived(env)[0]

    def accepts(self, given: str, env: Mapping[str, Any]) -> bool:
        scheme, _, encoded = given.partition(" ")
        try:
            pair = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and same_secret(pair, self._pair(env))

    def curl(self, value: str, masked: str | None, env_names: Callable[[str], str]) -> str | None:
        if masked is None or value != f"Basic {masked}":
            return None  # revealed: the header as it is sent
        user, password = (env_names(v.name) for v in self.variables)
        return f'-u "${{{user}}}:${{{password}}}"' if password else f'-u "${{{user}}}:"'

    def security_scheme(self, header_name: str | None, settings: Mapping[str, Any] | None = None
                        ) -> dict[str, Any] | None:
        return {"type": "http", "scheme": "basic"}


class HeaderAuth(AuthMethod):
    name = "header"
    variables = (AuthVariable("api_key", "API Key"),)
    credential = "API key"

    def header(self, header_name: str | None) -> str | None:
        return header_name or None

    def value(self, env: Mapping[str, Any], header_name: str | None) -> str:
        return _header_text(env["api_key"], "api_key", header_name or "")

    def accepts(self, given: str, env: Mapping[str, Any]) -> bool:
        return same_secret(given, as_text(env["api_key"]))

    def security_scheme(self, header_name: str | None, settings: Mapping[str, Any] | None = None
                        ) -> dict[str, Any] | None:
        return {"type": "apiKey", "in": "header", "name": header_name or ""}


class BearerAuth(AuthMethod):
    name = "bearer"
    variables = (AuthVariable("bearer_token", "Bearer Token"),)
    credential = "bearer token"

    def header(self, header_name: str | None) -> str | None:
        return AUTHORIZATION

    def value(self, env: Mapping[str, Any], header_name: str | None) -> str:
        return "Bearer " + _header_text(env["bearer_token"], "bearer_token", AUTHORIZATION)

    def accepts(self, given: str, env: Mapping[str, Any]) -> bool:
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and same_secret(token.strip(), as_text(env["bearer_token"]))

    def security_scheme(self, header_name: str | None, settings: Mapping[str, Any] | None = None
                        ) -> dict[str, Any] | None:
        return {"type": "http", "scheme": "bearer"}


class OAuth2Auth(AuthMethod):
    """OAuth2 (RFC 6749) with the client credentials or the refresh token grant: the access
    token comes from the definition's ``token_url`` at run time (:mod:`portalspec.oauth2`)."""

    name = "oauth2"
    variables = (AuthVariable("client_id", "Client ID"), AuthVariable("client_secret", "Client Secret"),
                 AuthVariable("refresh_token", "Refresh Token", when=(("grant", "refresh_token"),), rotates=True))
    credential = "OAuth2 access token"
    runtime = (ACCESS_TOKEN,)

    def header(self, header_name: str | None) -> str | None:
        return AUTHORIZATION

    def value(self, env: Mapping[str, Any], header_name: str | None) -> str:
        return "Bearer " + _header_text(env[ACCESS_TOKEN], ACCESS_TOKEN, AUTHORIZATION)

    def accepts(self, given: str, env: Mapping[str, Any]) -> bool:
        """``env`` holds one access token serve issued (it tries each one it holds)."""
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and same_secret(token.strip(), as_text(env[ACCESS_TOKEN]))

    def security_scheme(self, header_name: str | None, settings: Mapping[str, Any] | None = None
                        ) -> dict[str, Any] | None:
        """OpenAPI's oauth2 scheme with the grant's flow. A refresh token comes from an
        authorization code flow, whose authorization URL portalspec never uses or knows: the
        token URL stands in for it, and the description says so."""
        settings = settings or {}
        url = settings.get("token_url") or ""
        scopes = {scope: "" for scope in settings.get("scopes") or ()}
        if settings.get("grant") == "refresh_token":
            return {"type": "oauth2", "description": "portalspec uses the token endpoint only (grant_type="
                    "refresh_token); the authorization URL is the API's own: put it in place of this one.",
                    "flows": {"authorizationCode": {"authorizationUrl": url, "tokenUrl": url, "refreshUrl": url,
                                                    "scopes": scopes}}}
        return {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": url, "scopes": scopes}}}

    def from_scheme(self, scheme: Mapping[str, Any]) -> "Auth | None":
        """A client credentials flow, or an authorization code flow (whose refresh token the
        customer brings): the grant portalspec runs against that flow's token URL."""
        flows = scheme.get("flows") if scheme.get("type") == "oauth2" else None
        for flow, grant in (("clientCredentials", "client_credentials"), ("authorizationCode", "refresh_token")):
            found = flows.get(flow) if isinstance(flows, dict) else None
            if isinstance(found, dict) and isinstance(found.get("tokenUrl"), str):
                scopes = found.get("scopes")
                return Auth(self.name, grant=grant, token_url=found["tokenUrl"],
                            scopes=tuple(scopes) if isinstance(scopes, dict) else ())
        return None


AUTH_METHODS: Mapping[str, AuthMethod] = {m.name: m for m in (NoAuth(), BasicAuth(), HeaderAuth(), BearerAuth(),
                                                              OAuth2Auth())}


Fields = tuple[tuple[str, str], ...]  # (a method's variable, the custom field holding it)


def credential_name(method: str, fields: Fields = ()) -> str:
    """The name under which a request's ``masked`` records a method's derived credential
    (with an endpoint's own auth, the fields it is read from)."""
    base = f"{method}_credentials"
    return base + "".join(f":{variable}={field}" for variable, field in fields)


def credential_of(name: str) -> tuple[AuthMethod, Mapping[str, str]] | None:
    """The method whose derived credential is recorded as ``name``, and the variable each of
    its variables is read from (an unnamed optional one is absent); None if it is none."""
    base, *pairs = name.split(":")
    method = next((m for m in AUTH_METHODS.values() if credential_name(m.name) == base), None)
    if method is None:
        return None
    named = dict(pair.split("=", 1) for pair in pairs)
    return method, named if pairs else {v.name: v.name for v in method.variables}


def method_of_credential(name: str) -> AuthMethod | None:
    """The method whose derived credential is recorded as ``name``, if any."""
    found = credential_of(name)
    return found[0] if found is not None else None


def auth_for_scheme(scheme: Mapping[str, Any]) -> "Auth | None":
    """The auth (method and settings) that sends what an OpenAPI security scheme asks for, or
    None when no method does (an API key in the query, OpenID Connect …): the first method that
    finds itself in it (:meth:`AuthMethod.from_scheme`)."""
    return next((found for m in AUTH_METHODS.values() if (found := m.from_scheme(scheme)) is not None), None)


def is_runtime(variable: str) -> bool:
    """``variable`` is a method's runtime variable: no preview can know its value."""
    return any(variable in m.runtime for m in AUTH_METHODS.values())


@dataclass(frozen=True)
class Auth:
    """A definition's ``auth`` (or an endpoint's own): a method from the table, and its settings."""

    method: str  # a key of AUTH_METHODS
    header_name: str | None = None
    # oauth2 (PS515): the grant, the token endpoint, the scopes asked for, and how the client
    # authenticates to the token endpoint ("body": form fields; "basic": HTTP Basic). The
    # model passes the schema's default for client_auth; "body" here is for Auth built by hand.
    grant: str | None = None
    token_url: str | None = None
    scopes: tuple[str, ...] = ()
    client_auth: str = "body"
    # An endpoint's own auth: its credentials come from these custom fields, not from the
    # method's variables (which belong to the definition's auth).
    fields: Fields = ()

    @property
    def scheme(self) -> AuthMethod:
        return AUTH_METHODS[self.method]

    @property
    def settings(self) -> dict[str, Any]:
        """The settings as the definition spells them (what :meth:`AuthMethod.declared` reads)."""
        return {"method": self.method, "header_name": self.header_name, "grant": self.grant,
                "token_url": self.token_url, "scopes": list(self.scopes), "client_auth": self.client_auth}

    @property
    def declared(self) -> tuple[AuthVariable, ...]:
        return self.scheme.declared(self.settings)

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables its credentials are read from."""
        if self.fields:
            return tuple(field for _, field in self.fields)
        return tuple(v.name for v in self.declared)

    @property
    def header(self) -> str | None:
        """The header the method sends (None for ``none``)."""
        return self.scheme.header(self.header_name)

    @property
    def credential_name(self) -> str:
        return credential_name(self.method, self.fields)

    def credentials(self, env: Mapping[str, Any]) -> Mapping[str, Any]:
        """``env`` as the method reads it: its variables, from the fields named for them (an
        unnamed optional one empty: never the definition's auth's value of that name)."""
        if not self.fields:
            return env
        named = dict(self.fields)
        return {v.name: env.get(named[v.name], "") if v.name in named else "" for v in self.scheme.variables}

    def value(self, env: Mapping[str, Any]) -> str:
        return self.scheme.value(self.credentials(env), self.header_name)

    @property
    def security_scheme(self) -> dict[str, Any] | None:
        return self.scheme.security_scheme(self.header_name, self.settings)

    def derived(self, env: Mapping[str, Any]) -> tuple[str, ...]:
        return self.scheme.derived(self.credentials(env))

    def accepts(self, given: str, env: Mapping[str, Any]) -> bool:
        """serve: ``given`` carries this auth's expected credentials."""
        return self.scheme.accepts(given, self.credentials(env))
