"""``/metrics`` answers any ``Authorization`` header with 200 or 403, never an error page (which,
in development mode, would show the settings and so the metrics token)."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

TOKEN = "s3cret-token"

headers = st.one_of(
    st.text(max_size=60),
    st.text(max_size=60).map(lambda t: "Bearer " + t),
    st.text(max_size=8).map(lambda t: "Bearer " + TOKEN + t),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),  # raw bytes, as servers pass them
)


@pytest.fixture
def metrics_settings(db, settings):
    settings.METRICS_ALLOW_IPS = []
    settings.METRICS_TOKEN = TOKEN
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    return settings


@given(header=headers)
@example(header="Bearer s3cret-tokén")
@example(header="Bearer 令牌")
@example(header="Bearer \x00")
@example(header="Bearer \udcff")
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_authorization_header_is_answered_200_or_403(metrics_settings, header):
    client = Client(raise_request_exception=False)
    r = client.get("/metrics", HTTP_AUTHORIZATION=header)
    assert r.status_code == (200 if header.removeprefix("Bearer ").strip() == TOKEN else 403)


@pytest.mark.parametrize("token", ["jetón-de-métricas", "指标令牌"])
def test_a_token_outside_ascii_works_as_servers_pass_it_on(metrics_settings, token):
    """A server hands Django each header byte as one latin-1 character: the UTF-8 token
    arrives in that form and is accepted; the same text unencoded is no header a server sends."""
    metrics_settings.METRICS_TOKEN = token
    client = Client(raise_request_exception=False)
    as_sent = token.encode().decode("latin-1")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {as_sent}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ñ").status_code == 403
