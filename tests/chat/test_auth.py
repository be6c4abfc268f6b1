"""Password hashing, tokens, where a request's token is read from, the secret file."""

from __future__ import annotations

import base64
import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from wirechat.chat.auth import (
    PasswordHasher,
    TokenService,
    hash_refresh_token,
    load_or_create_secret,
    new_refresh_token,
    token_from_request,
)

SECRET = "s" * 64


class TestPasswordHasher:
    def test_hash_verifies_only_the_same_password(self, hasher: PasswordHasher) -> None:
        hashed = hasher.hash("correct horse")
        assert hashed.startswith("$argon2id$")
        assert "correct horse" not in hashed
        assert hasher.verify(hashed, "correct horse")
        assert not hasher.verify(hashed, "correct horsE")

    def test_two_hashes_of_one_password_differ_by_salt(self, hasher: PasswordHasher) -> None:
        assert hasher.hash("password1") != hasher.hash("password1")

    def test_malformed_hash_does_not_verify(self, hasher: PasswordHasher) -> None:
        assert not hasher.verify("not-a-hash", "password1")
        assert hasher.needs_rehash("not-a-hash")

    def test_needs_rehash_when_costs_change(self, hasher: PasswordHasher) -> None:
        hashed = hasher.hash("password1")
        assert not hasher.needs_rehash(hashed)
        stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
        assert stronger.needs_rehash(hashed)
        assert stronger.verify(hashed, "password1")

    def test_dummy_verification_always_fails(self, hasher: PasswordHasher) -> None:
        assert not hasher.verify_dummy("password1")
        assert not hasher.verify_dummy("password1")


def _unsigned(claims: dict[str, object], header: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


class TestTokenService:
    service = TokenService(SECRET, timedelta(days=7))

    def test_issued_token_carries_the_api_claims(self) -> None:
        now = datetime(2026, 1, 31, 12, tzinfo=UTC)
        token = self.service.issue(42, 7, now=now)
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
        assert claims == {
            "userId": 42,
            "sub": "42",
            "sid": 7,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(days=7)).timestamp()),
        }
        assert jwt.get_unverified_header(token)["alg"] == "HS256"

    def test_verify_returns_the_claims_of_a_valid_token(self) -> None:
        claims = self.service.verify(self.service.issue(42, 7))
        assert claims is not None
        assert claims.user_id == 42
        assert claims.session_id == 7
        assert claims.expires_at - claims.issued_at == timedelta(days=7)

    def test_expired_token_is_invalid(self) -> None:
        issued = datetime.now(UTC) - timedelta(days=8)
        assert self.service.verify(self.service.issue(42, 7, now=issued)) is None

    def test_token_signed_with_another_secret_is_invalid(self) -> None:
        other = TokenService("t" * 64, timedelta(days=7))
        assert self.service.verify(other.issue(42, 7)) is None

    def test_alg_none_token_is_rejected(self) -> None:
        now = int(datetime.now(UTC).timestamp())
        claims = {"userId": 42, "sub": "42", "sid": 7, "iat": now, "exp": now + 3600}
        token = _unsigned(claims, {"alg": "none", "typ": "JWT"})
        assert self.service.verify(token) is None

    def test_hs512_token_with_the_right_secret_is_rejected(self) -> None:
        now = int(datetime.now(UTC).timestamp())
        claims = {"userId": 42, "sub": "42", "sid": 7, "iat": now, "exp": now + 3600}
        token = jwt.encode(claims, SECRET, algorithm="HS512")
        assert self.service.verify(token) is None

    @pytest.mark.parametrize(
        "claims",
        [
            {"userId": 42, "sub": "42", "sid": 7, "iat": 0},  # no exp
            {"userId": 42, "sub": "42", "sid": 7, "exp": 2**40},  # no iat
            {"userId": 42, "sid": 7, "iat": 0, "exp": 2**40},  # no sub
            {"sub": "42", "sid": 7, "iat": 0, "exp": 2**40},  # no userId
            {"userId": 42, "sub": "42", "iat": 0, "exp": 2**40},  # no sid: never revocable
            {"userId": 42, "sub": "42", "sid": "7", "iat": 0, "exp": 2**40},
            {"userId": "42", "sub": "42", "sid": 7, "iat": 0, "exp": 2**40},
            {"userId": True, "sub": "True", "sid": 7, "iat": 0, "exp": 2**40},
            {"userId": 42, "sub": "43", "sid": 7, "iat": 0, "exp": 2**40},
        ],
    )
    def test_token_missing_or_mismatching_claims_is_invalid(
        self, claims: dict[str, object]
    ) -> None:
        assert self.service.verify(jwt.encode(claims, SECRET, algorithm="HS256")) is None

    @pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer x"])
    def test_malformed_token_is_invalid(self, token: str) -> None:
        assert self.service.verify(token) is None

    def test_repr_does_not_show_the_secret(self) -> None:
        assert SECRET not in repr(self.service)

    def test_empty_secret_is_refused(self) -> None:
        with pytest.raises(ValueError):
            TokenService("", timedelta(days=1))


class TestRefreshToken:
    def test_refresh_tokens_are_256_random_bits_of_url_safe_text(self) -> None:
        tokens = {new_refresh_token() for _ in range(100)}
        assert len(tokens) == 100
        assert all(len(t) == 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)

    def test_the_stored_form_is_the_sha256_and_not_the_token(self) -> None:
        token = new_refresh_token()
        digest = hash_refresh_token(token)
        assert digest == hash_refresh_token(token)
        assert len(digest) == 64 and token not in digest
        assert digest != hash_refresh_token(new_refresh_token())


class TestTokenFromRequest:
    def test_bearer_header_comes_first(self) -> None:
        token = token_from_request(
            {"authorization": "Bearer from-header"},
            {"token": "from-query"},
            {"token": "from-params"},
            websocket=True,
        )
        assert token == "from-header"

    def test_bearer_scheme_is_case_insensitive(self) -> None:
        assert token_from_request({"authorization": "bearer abc"}, {}, None, websocket=False) == (
            "abc"
        )

    def test_websocket_query_comes_second(self) -> None:
        token = token_from_request({}, {"token": "from-query"}, {"token": "p"}, websocket=True)
        assert token == "from-query"

    def test_query_token_is_ignored_outside_websocket(self) -> None:
        assert token_from_request({}, {"token": "q"}, None, websocket=False) is None
        assert token_from_request({}, {"token": "q"}, {"token": "p"}, websocket=False) == "p"

    def test_connection_params_come_last(self) -> None:
        assert token_from_request({}, {}, {"token": "from-params"}, websocket=True) == (
            "from-params"
        )

    @pytest.mark.parametrize(
        "authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "", "Token abc"]
    )
    def test_non_bearer_or_empty_header_falls_through(self, authorization: str) -> None:
        headers = {"authorization": authorization}
        assert token_from_request(headers, {}, {"token": "p"}, websocket=False) == "p"

    def test_nothing_anywhere_is_anonymous(self) -> None:
        assert token_from_request({}, {}, None, websocket=True) is None
        assert token_from_request({}, {"token": ""}, {"token": None}, websocket=True) is None


class TestLoadOrCreateSecret:
    def test_first_start_creates_a_private_secret_and_later_starts_reuse_it(
        self, tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "data"
        secret, created = load_or_create_secret(data_dir)
        assert created
        assert len(secret) >= 32
        mode = stat.S_IMODE((data_dir / "jwt_secret").stat().st_mode)
        assert mode == 0o600
        assert load_or_create_secret(data_dir) == (secret, False)
        assert [p.name for p in data_dir.iterdir()] == ["jwt_secret"]

    def test_loose_permissions_are_tightened(self, tmp_path: Path) -> None:
        (tmp_path / "jwt_secret").write_text("existing-secret\n")
        (tmp_path / "jwt_secret").chmod(0o644)
        assert load_or_create_secret(tmp_path) == ("existing-secret", False)
        assert stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode) == 0o600

    def test_empty_file_is_an_error_naming_the_setting(self, tmp_path: Path) -> None:
        (tmp_path / "jwt_secret").write_text("")
        with pytest.raises(ValueError, match="JWT_SECRET"):
            load_or_create_secret(tmp_path)

    def test_concurrent_first_starts_agree_on_one_secret(self, tmp_path: Path) -> None:
        results: list[tuple[str, bool]] = []
        threads = [
            threading.Thread(target=lambda: results.append(load_or_create_secret(tmp_path)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({secret for secret, _ in results}) == 1
        assert sum(created for _, created in results) == 1
