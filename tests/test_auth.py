"""portalspec.auth: each method's OpenAPI security scheme, and the method found back from one."""

from __future__ import annotations

import pytest

from portalspec.auth import AUTH_METHODS, Auth, auth_for_scheme


@pytest.mark.parametrize("auth", [
    Auth("basic"), Auth("bearer"), Auth("header", "X-Api-Key"),
    Auth("oauth2", grant="client_credentials", token_url="https://auth.example/token", scopes=("lists.write",)),
    Auth("oauth2", grant="refresh_token", token_url="https://auth.example/token"),
])
def test_every_method_with_a_credential_is_found_back_from_its_own_scheme(auth):
    assert auth.security_scheme is not None
    assert auth_for_scheme(auth.security_scheme) == auth


def test_no_auth_has_no_scheme_and_every_other_method_one():
    assert [name for name, m in AUTH_METHODS.items() if m.security_scheme("X-Key") is None] == ["none"]


@pytest.mark.parametrize(("scheme", "auth"), [
    ({"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"}, Auth("bearer")),  # scheme names ignore case
    ({"type": "apiKey", "in": "header", "name": "Authorization", "description": "a key"},
     Auth("header", "Authorization")),
    ({"type": "apiKey", "in": "query", "name": "api_key"}, None),  # no method sends a key in the query
    ({"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://a.example/t", "scopes": {"w": "write"}}}},
     Auth("oauth2", grant="client_credentials", token_url="https://a.example/t", scopes=("w",))),
    ({"type": "oauth2", "flows": {"implicit": {"authorizationUrl": "https://a.example/a", "scopes": {}}}}, None),
    ({"type": "openIdConnect", "openIdConnectUrl": "https://a.example/.well-known"}, None),
    ({"type": "http", "scheme": "digest"}, None),
])
def test_auth_for_scheme(scheme, auth):
    assert auth_for_scheme(scheme) == auth
