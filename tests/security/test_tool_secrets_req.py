"""TOOL-3: the tool's passwords and keys are kept protected at rest and its password policy is the
Polish one of SEC-5, checked against the numbers of S0 section 6 (6.3.2 forced change at log-in;
6.4 a letter, a digit, a special character, at least 10 characters; 6.5 history of 5, maximum
age 30 days, minimum age 2 days, stored protected).

metra's operator-facing faces (CLI, API, console) are the service tool here, so these tests drive
the real account, log-in and key-store code on both backends. S0 6.5.5 asks for passwords "stored
encrypted"; metra keeps only Argon2id hashes (one-way, never recoverable, as the RU profile also
demands), which the tests check by reading the stored rows, not through the code's own answers.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from metra.headend.errors import KeyStoreError
from metra.headend.keystore import KeyStore, MasterKey, _context
from metra.profiles import Profile
from metra.security import users
from metra.security.errors import PasswordPolicyError, SecretError
from metra.security.login import login
from metra.security.passwords import check_composition, verify_password
from metra.security.roles import Principal
from metra.security.schema import password_history, user_account
from metra.security.sealing import SecretBox
from metra.security.users import _totp_context
from metra.store.masterdata import Entity, create
from metra.store.schema import meter_key

T0 = datetime(2030, 3, 1, 8, tzinfo=UTC)
#: S0 6.4.3 lists these as examples of special characters.
S0_SPECIALS = "@#$%^&*(_"


def _admin(conn: Connection) -> Principal:
    admin_id, _ = users.bootstrap(conn, "root", now=T0)
    return users.principal(conn, admin_id)


def test_tool3_pl_policy_holds_the_numbers_of_s0_section_6(pl: Profile) -> None:
    """The PL profile's rules are S0's: 10 characters, letter, digit, special, history 5,
    30 days maximum, 2 days minimum, forced change at log-in; and they are enforced."""
    p = pl.passwords
    assert (p.min_length, p.history, p.max_age_days, p.min_age_days) == (10, 5, 30, 2)
    assert p.require_letter and p.require_digit and p.require_special
    assert p.force_change_first_login and not p.forbid_any_reuse
    with pytest.raises(PasswordPolicyError) as short:
        check_composition(p, "abc1@defg")  # 9 characters, every class present
    assert short.value.rule == "min_length"
    for special in S0_SPECIALS:
        check_composition(p, f"abcdefgh1{special}")  # exactly 10, S0's example specials
    for missing, rule in (("abcdefghi@", "digit"), ("123456789@", "letter")):
        with pytest.raises(PasswordPolicyError) as caught:
            check_composition(p, missing)
        assert caught.value.rule == rule


def test_tool3_passwords_stored_only_as_argon2id_hashes_with_a_history_of_five(
    conn: Connection, pl: Profile
) -> None:
    """Through the real account code: the first log-in forces a change (S0 6.3.2); every
    password set is kept as an Argon2id hash only, in the account and in the history; one of the
    five newest cannot be set again, the sixth newest can; a change before 2 days is refused and
    a password 30 days old must be changed at log-in."""
    policy = pl.passwords
    admin = _admin(conn)
    first = "Initial-pass-0"
    user_id = users.create(conn, admin, "ewa", policy=policy, initial_password=first, now=T0)
    assert login(
        conn, "ewa", first, policy=policy, source_address=None, now=T0
    ).must_change_password
    chosen = [first]
    at = T0
    for i in range(1, 7):
        new = f"Chosen-pass-{i}#"
        users.change_password(conn, user_id, chosen[-1], new, policy=policy, now=at)
        chosen.append(new)
        at += timedelta(days=3)
    stored = conn.execute(select(user_account).where(user_account.c.id == user_id)).one()._mapping
    kept = list(
        conn.execute(
            select(password_history.c.password_hash).where(password_history.c.user_id == user_id)
        ).scalars()
    )
    assert len(kept) == len(chosen)
    for value in (stored["password_hash"], *kept):
        assert value.startswith("$argon2id$")
        assert not any(p in value for p in chosen)
    assert verify_password(stored["password_hash"], chosen[-1])
    for text in (str(v) for v in stored.values()):
        assert not any(p in text for p in chosen)
    # History of 5: the five newest (the current one included) are refused, the sixth is not.
    for earlier in chosen[-5:]:
        with pytest.raises(PasswordPolicyError, match="history"):
            users.change_password(conn, user_id, chosen[-1], earlier, policy=policy, now=at)
    users.change_password(conn, user_id, chosen[-1], chosen[-6], policy=policy, now=at)
    # Minimum age 2 days: a change one day later is refused, two days later allowed.
    with pytest.raises(PasswordPolicyError, match="min_age"):
        users.change_password(
            conn, user_id, chosen[-6], "Another-pass-9", policy=policy, now=at + timedelta(days=1)
        )
    # Maximum age 30 days: log-in at day 29 is a normal session, at day 30 a forced change.
    day29 = login(
        conn, "ewa", chosen[-6], policy=policy, source_address=None, now=at + timedelta(days=29)
    )
    assert not day29.must_change_password
    day30 = login(
        conn, "ewa", chosen[-6], policy=policy, source_address=None, now=at + timedelta(days=30)
    )
    assert day30.must_change_password


def test_tool3_meter_keys_and_second_factor_secrets_are_sealed_at_rest(
    conn: Connection, pl: Profile
) -> None:
    """A meter key in the key store and a TOTP secret are stored encrypted (AES-256-GCM under a
    master key kept outside the database): the stored bytes do not hold them, the right master
    key opens them, another master key does not."""
    meter = create(conn, Entity.METER, {"serial": "TOOL3-1"}, effective=date(2030, 1, 1))
    master = MasterKey.generate()
    key = secrets.token_bytes(16)
    KeyStore(master).put(conn, meter, "optical", "ek.1", key, at=T0, by="test")
    (wrapped,) = conn.execute(
        select(meter_key.c.wrapped).where(meter_key.c.meter_id == meter)
    ).scalars()
    assert key not in bytes(wrapped) and len(wrapped) > len(key)
    assert KeyStore(master).get(conn, meter, "optical", "ek.1") == key
    row = _context(meter, "optical", "ek.1")
    assert master.open(bytes(wrapped), row) == key
    with pytest.raises(KeyStoreError, match="integrity"):
        MasterKey.generate().open(bytes(wrapped), row)

    admin = _admin(conn)
    user_id = users.create(conn, admin, "jan", policy=pl.passwords, now=T0)
    box = SecretBox(secrets.token_bytes(32))
    secret = users.enrol_totp(conn, user_id, box, now=T0)
    sealed = conn.execute(
        select(user_account.c.totp_secret).where(user_account.c.id == user_id)
    ).scalar_one()
    assert secret not in bytes(sealed)
    assert box.open(bytes(sealed), _totp_context(user_id)) == secret
    with pytest.raises(SecretError, match="integrity"):
        SecretBox(secrets.token_bytes(32)).open(bytes(sealed), _totp_context(user_id))
