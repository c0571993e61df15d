"""The sans-I/O parts of the Linear work: link detection, the key ring, rate-limit arithmetic,
and the settings that hold secrets."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.analysis.links import Mention, closed, mentions
from app.clients.linear import WorkflowState, completed_state, rate_limit_reset
from app.crypto import KeyRing, Undecryptable, UnknownKey, key_id_of, new_key, parse_key
from app.settings import DatabaseSettings, LinearSettings

# Link detection


def found(branch: str = "main", title: str = "Update", body: str = "") -> set[tuple[str, ...]]:
    return {
        (m.identifier, m.kind, m.source) for m in mentions(branch=branch, title=title, body=body)
    }


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # Linear's integration: an id in the branch or the title links and completes on merge.
        ({"branch": "eng-123-fix-login"}, {("ENG-123", "closes", "branch")}),
        ({"branch": "ada/ENG-123-fix-login"}, {("ENG-123", "closes", "branch")}),
        ({"branch": "feature/eng-123_fix"}, {("ENG-123", "closes", "branch")}),
        ({"title": "ENG-123: fix login"}, {("ENG-123", "closes", "title")}),
        ({"title": "Fixes ENG-123: login"}, {("ENG-123", "closes", "title")}),
        ({"title": "Part of ENG-123: login"}, {("ENG-123", "references", "title")}),
        ({"body": "Fixes ENG-123"}, {("ENG-123", "closes", "body")}),
        ({"body": "fixes eng-123"}, {("ENG-123", "closes", "body")}),
        # A bare id in the body links nothing.
        ({"body": "ENG-123"}, set()),
        ({"body": "See ENG-123 for context."}, set()),
        ({"body": "Follow-up to ENG-12"}, set()),
        # Contributing words link without closing.
        ({"body": "part of ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Ref ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Refs ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "References ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Relates to ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Related to ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Contributes to ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Toward ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Towards ENG-7"}, {("ENG-7", "references", "body")}),
        ({"body": "Closes: ENG-9"}, {("ENG-9", "closes", "body")}),
        (
            {"body": "Resolves https://linear.app/acme/issue/ENG-5/login-fails-with-sso"},
            {("ENG-5", "closes", "body")},
        ),
        # The branch names it, the body closes it: closes, from the body.
        (
            {"branch": "eng-123-fix-login", "body": "Fixes ENG-123"},
            {("ENG-123", "closes", "body")},
        ),
        # The body says it only contributes: the word wins over the branch's default.
        (
            {"branch": "eng-123-fix-login", "body": "Part of ENG-123"},
            {("ENG-123", "references", "body")},
        ),
        # skip / ignore unlink it, even when the branch names it.
        ({"branch": "eng-123-fix-login", "body": "skip ENG-123"}, set()),
        ({"title": "ENG-1 and ENG-2", "body": "ignore ENG-2"}, {("ENG-1", "closes", "title")}),
        ({"title": "Skip ENG-3: not this one"}, set()),
        (
            {"body": "Fixes ENG-1, ENG-2 and ENG-3\nrefs ENG-4"},
            {
                ("ENG-1", "closes", "body"),
                ("ENG-2", "closes", "body"),
                ("ENG-3", "closes", "body"),
                ("ENG-4", "references", "body"),
            },
        ),
        (
            {"body": "Closes ENG-1, part of ENG-2"},
            {("ENG-1", "closes", "body"), ("ENG-2", "references", "body")},
        ),
        # Not closing words: a prefix of a word, a word glued to the identifier.
        ({"body": "prefixes ENG-4"}, set()),
        ({"body": "hotfix-ENG-4"}, set()),
        ({"body": "Fixes ENG-4"}, {("ENG-4", "closes", "body")}),
        # A PR template's example, in an HTML comment, is not shown and not linked.
        ({"body": "<!-- Fixes ENG-123 -->\nsmall change"}, set()),
        ({"title": "ENG-0 and ENG- and -123 and 123-ENG"}, set()),
    ],
)
def test_link_detection(where: dict[str, str], expected: set[tuple[str, ...]]) -> None:
    assert found(**where) == expected


def test_every_closing_word_in_every_tense_closes() -> None:
    words = [
        *("close", "closes", "closed", "closing"),
        *("fix", "fixes", "fixed", "fixing"),
        *("resolve", "resolves", "resolved", "resolving"),
        *("complete", "completes", "completed", "completing"),
        *("implement", "implements", "implemented", "implementing"),
    ]
    for word in words:
        assert closed(f"{word.title()} ENG-1") == ["ENG-1"], word
        assert closed(f"{word.upper()} ENG-1") == ["ENG-1"], word


def test_mentions_are_one_per_identifier_in_order_of_appearance() -> None:
    result = mentions(
        branch="eng-2-x", title="ENG-1 and ENG-2", body="ENG-3, Fixes eng-1; part of ENG-4"
    )
    assert result == [
        Mention("ENG-2", "closes", "branch"),
        Mention("ENG-1", "closes", "body"),
        Mention("ENG-4", "references", "body"),
    ]
    assert result[0].team_key == "ENG"


def test_only_as_much_of_a_body_as_github_keeps_is_read() -> None:
    # GitHub keeps 65,536 characters of a body; a 25 MB payload's filler past them (every line
    # naming issues) was read for 20 s on the event loop that also answers deliveries.
    kept = "Fixes ENG-1. " + "x" * (65_536 - 13 - 13) + " Fixes ENG-2."
    body = kept + "Fixes ENG-3 and refs ENG-4. " * 900_000
    started = time.monotonic()
    found = mentions(branch="main", title="A long body", body=body)
    elapsed = time.monotonic() - started
    assert found == [Mention("ENG-1", "closes", "body"), Mention("ENG-2", "closes", "body")]
    assert elapsed < 2, f"{elapsed:.1f} s for a body of {len(body):,} characters"


# The key ring

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def test_ciphertext_carries_the_key_id_and_round_trips() -> None:
    ring = KeyRing.from_config([KEY_A])
    sealed = ring.encrypt(b"lin_api_secret", associated=b"integrations:linear")
    assert key_id_of(sealed) == hashlib.sha256(b"A" * 32).digest()[:4]
    assert b"lin_api_secret" not in sealed
    assert ring.decrypt(sealed, associated=b"integrations:linear") == b"lin_api_secret"
    # A fresh nonce each time: the same secret never looks the same twice.
    assert ring.encrypt(b"x") != ring.encrypt(b"x")


def test_the_first_key_encrypts_and_any_key_decrypts() -> None:
    old = KeyRing.from_config([KEY_A]).encrypt(b"secret")
    rotated = KeyRing.from_config([KEY_B, KEY_A])
    assert rotated.decrypt(old) == b"secret"
    assert not rotated.is_current(old)
    again = rotated.reencrypt(old)
    assert rotated.is_current(again)
    assert KeyRing.from_config([KEY_B]).decrypt(again) == b"secret"
    with pytest.raises(UnknownKey, match="key id"):
        KeyRing.from_config([KEY_B]).decrypt(old)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # the tag
        lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # the sealed text
        lambda b: b"\x02" + b[1:],  # the version
        lambda b: b[:10],  # truncated
    ],
)
def test_tampered_ciphertexts_do_not_open(tamper) -> None:
    ring = KeyRing.from_config([KEY_A])
    with pytest.raises(Undecryptable):
        ring.decrypt(tamper(ring.encrypt(b"secret-value")))


def test_a_ciphertext_belongs_to_its_row() -> None:
    ring = KeyRing.from_config([KEY_A])
    sealed = ring.encrypt(b"secret", associated=b"integrations:linear")
    with pytest.raises(Undecryptable):
        ring.decrypt(sealed, associated=b"integrations:github")


def test_keys_are_base64_of_32_bytes_and_never_shown() -> None:
    assert len(parse_key(new_key())) == 32
    assert parse_key(base64.urlsafe_b64encode(b"\xff" * 32).decode().rstrip("=")) == b"\xff" * 32
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            parse_key(bad)
    assert "QUFB" not in repr(KeyRing.from_config([KEY_A]))


def test_settings_split_keys_and_refuse_a_bad_one_without_echoing_it() -> None:
    settings = DatabaseSettings(encryption_key=f"{KEY_B}, {KEY_A}")
    assert [k.get_secret_value() for k in settings.encryption_key] == [KEY_B, KEY_A]
    secret = "c2VjcmV0LWJ1dC1zaG9ydA=="
    with pytest.raises(ValidationError) as caught:
        DatabaseSettings(encryption_key=f"{KEY_A},{secret}")
    assert secret not in str(caught.value)
    assert "32 bytes" in str(caught.value)


def test_linear_settings_defaults() -> None:
    settings = LinearSettings(api_key="lin_api_x")
    assert settings.api_url == "https://api.linear.app/graphql"
    assert settings.close_on_merge is True
    assert "lin_api_x" not in repr(settings)
    with pytest.raises(ValidationError):
        LinearSettings(api_url="ftp://linear")


# Linear's rate limits and states

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def test_rate_limit_reset_is_the_exhausted_budgets_reset_in_milliseconds() -> None:
    later = NOW + timedelta(seconds=90)
    headers = {
        "x-ratelimit-requests-remaining": "0",
        "x-ratelimit-requests-reset": ms(later),
        "x-ratelimit-complexity-remaining": "9000",
        "x-ratelimit-complexity-reset": ms(NOW + timedelta(hours=1)),
    }
    assert rate_limit_reset(headers, now=NOW) == later
    exhausted_complexity = headers | {
        "x-ratelimit-requests-remaining": "10",
        "x-ratelimit-complexity-remaining": "0",
    }
    assert rate_limit_reset(exhausted_complexity, now=NOW) == NOW + timedelta(hours=1)


def test_rate_limit_reset_without_headers_waits_a_minute_and_never_the_past() -> None:
    assert rate_limit_reset({}, now=NOW) == NOW + timedelta(minutes=1)
    past = {"x-ratelimit-requests-reset": ms(NOW - timedelta(minutes=5))}
    assert rate_limit_reset(past, now=NOW) == NOW + timedelta(seconds=1)
    assert rate_limit_reset({"retry-after": "30"}, now=NOW) == NOW + timedelta(seconds=30)


def test_completed_state_is_the_first_of_type_completed() -> None:
    states = [
        WorkflowState("s1", "Todo", "unstarted", 1),
        WorkflowState("s3", "Shipped", "completed", 5),
        WorkflowState("s2", "Done", "completed", 4),
        WorkflowState("s4", "Canceled", "canceled", 6),
    ]
    assert completed_state(states) == states[2]
    assert completed_state(states[:1]) is None


def test_the_teams_automation_rule_for_the_target_branch_wins_over_its_default() -> None:
    from app.clients.linear import NO_ACTION, GitAutomation, TeamWorkflow, automation_state

    todo = WorkflowState("s1", "Todo", "unstarted", 1)
    review = WorkflowState("s2", "In Review", "started", 2)
    done = WorkflowState("s3", "Done", "completed", 3)
    rules = [
        GitAutomation("merge", review, "staging"),
        GitAutomation("merge", None, "release/.*", is_regex=True),
        GitAutomation("merge", done),
        GitAutomation("review", review),
    ]
    workflow = TeamWorkflow([todo, review, done], rules)
    assert automation_state(workflow, "merge", "staging") == review
    assert automation_state(workflow, "merge", "release/2.1") is NO_ACTION
    assert automation_state(workflow, "merge", "main") == done
    # A literal pattern is the whole name; no rule for an event: Done on merge, else nothing.
    assert automation_state(workflow, "merge", "staging-2") == done
    bare = TeamWorkflow([todo, done], [])
    assert automation_state(bare, "merge", "main") == done
    assert automation_state(bare, "start", "main") is NO_ACTION
    # A default rule with no state: no action, even though a Done state exists.
    assert (
        automation_state(TeamWorkflow([done], [GitAutomation("merge", None)]), "merge", "x")
        is NO_ACTION
    )
