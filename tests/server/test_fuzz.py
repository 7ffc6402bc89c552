"""Property-based fuzzing of every endpoint: whatever arrives, the answer is 2xx/3xx/4xx, never 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Harness, build_harness, make_data_dir
from tests.server.test_device_auth import BODIES, device_routes

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text that has broken real servers: NUL, lone surrogates, huge numbers, odd whitespace.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff", "\u202e", "WXG-000001", " ", "９"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    nasty_text,
    st.sampled_from(
        [
            "2026-03-02T09:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59+14:00",
            "2026-03-02T09:00:00",
            "enterprise",
            "resolved",
            "high",
            "other",
        ]
    ),
)
# What an HTTP client can put in form fields and file names at all.
form_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters='"\r\n\x00'), max_size=40
)
# Form values may carry anything a URL-encoded body can: NUL included.
form_value = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(nasty_text, children, max_size=4)
    ),
    max_leaves=12,
)


def mutated(valid: Any) -> st.SearchStrategy[Any]:
    """A valid body with one field replaced, dropped or added: reaches deeper than random JSON."""
    if not isinstance(valid, dict) or not valid:
        return json_value
    keys = sorted(valid)
    return st.one_of(
        st.builds(lambda k, v: {**valid, k: v}, st.sampled_from(keys), json_value),
        st.builds(lambda k: {x: y for x, y in valid.items() if x != k}, st.sampled_from(keys)),
        st.builds(lambda k, v: {**valid, k: v}, nasty_text, json_value),
    )


@pytest.fixture
def fuzz_harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    # Limits high enough that the fuzzer reaches the handlers instead of the rate limiter.
    h = build_harness(
        db_url,
        make_data_dir(tmp_path / "data"),
        device_per_minute=10**6,
        ip_per_minute=10**6,
        enroll_per_ip_per_minute=10**6,
        login_per_ip_per_minute=10**6,
    )
    yield h
    h.client.close()
    h.app.state.wx.dispose()
    h.engine.dispose()


def _ok(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])


def test_device_routes_never_answer_5xx(fuzz_harness: Harness) -> None:
    h = fuzz_harness
    device = h.enroll()
    routes = device_routes(h.app)

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        method, path = data.draw(st.sampled_from(routes))
        if method == "GET":
            if "WXG" in path:
                path = "/api/v1/reports/" + quote(
                    data.draw(nasty_text), safe="", errors="surrogatepass"
                )
            _ok(h.client.get(path, headers=device.headers))
            return
        kind = data.draw(st.sampled_from(["mutated", "random", "bytes"]))
        if kind == "bytes":
            content_type = data.draw(
                st.sampled_from(
                    ["application/json", "multipart/form-data; boundary=x", "text/plain", ""]
                )
            )
            body = data.draw(st.binary(max_size=300))
            _ok(
                h.client.post(
                    path, content=body, headers={**device.headers, "Content-Type": content_type}
                )
            )
            return
        strategy = mutated(BODIES[(method, path)]) if kind == "mutated" else json_value
        _ok(
            h.client.post(
                path,
                content=json.dumps(data.draw(strategy)),
                headers={**device.headers, "Content-Type": "application/json"},
            )
        )

    run()


def test_enroll_and_auth_headers_never_answer_5xx(fuzz_harness: Harness) -> None:
    h = fuzz_harness
    h.secret(uses=1000)

    @FUZZ
    @given(
        body=mutated({"secret": "wxe_x", "hostname": "h", "os": "o", "agent_version": "1"}),
        token=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300),
    )
    def run(body: Any, token: str) -> None:
        _ok(
            h.client.post(
                "/api/v1/enroll",
                content=json.dumps(body),
                headers={"Content-Type": "application/json"},
            )
        )
        _ok(
            h.client.post(
                "/api/v1/heartbeat",
                json={"agent_version": "1"},
                headers={"Authorization": token.encode("latin-1")},
            )
        )

    run()


def test_report_multipart_never_answers_5xx(fuzz_harness: Harness) -> None:
    h = fuzz_harness
    device = h.enroll()

    @FUZZ
    @given(
        report=st.one_of(mutated(BODIES[("POST", "/api/v1/reports")]), json_value).map(json.dumps),
        files=st.lists(st.tuples(form_text, st.binary(max_size=200)), max_size=3),
        extra=st.dictionaries(form_text, form_value, max_size=2),
    )
    def run(report: str, files: list[tuple[str, bytes]], extra: dict[str, str]) -> None:
        data = {**extra, "report": report}
        upload = [
            ("attachment", (name or "f", blob, "application/octet-stream")) for name, blob in files
        ]
        _ok(
            h.client.post(
                "/api/v1/reports", data=data, files=upload or None, headers=device.headers
            )
        )

    run()


def test_dashboard_never_answers_5xx(fuzz_harness: Harness) -> None:
    h = fuzz_harness
    h.add_admin()
    h.login()
    csrf = h.client.get("/fleet").text.split('name="csrf_token" value="')[1].split('"')[0]

    @FUZZ
    @given(
        target=st.sampled_from(
            [
                "/reports/{}",
                "/devices/{}",
                "/findings/rule/{}",
                "/lang/{}",
                "/reports/{}/attachments/1",
            ]
        ),
        segment=nasty_text.map(lambda s: quote(s, safe="", errors="surrogatepass")),
        form=st.dictionaries(
            st.sampled_from(
                [
                    "action",
                    "status",
                    "assignee",
                    "body",
                    "document",
                    "csrf_token",
                    "username",
                    "password",
                    "login_csrf",
                ]
            ),
            form_value,
            max_size=5,
        ),
        post=st.sampled_from(
            ["/policy", "/reports/1", "/devices/x/revoke", "/login", "/reports/1/attachments/1"]
        ),
        use_csrf=st.booleans(),
    )
    def run(target: str, segment: str, form: dict[str, str], post: str, use_csrf: bool) -> None:
        _ok(h.client.get(target.format(segment), follow_redirects=False))
        if use_csrf:
            form = {**form, "csrf_token": csrf}
        _ok(h.client.post(post, data=form, follow_redirects=False))

    run()
