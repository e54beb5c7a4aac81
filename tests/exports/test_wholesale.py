"""The wholesale report: hourly local energy with status, signed with the operator's key where
the profile requires it; a tampered or foreign-signed report fails verification (ACC-4, JUR-1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from sqlalchemy import Connection

from metra.mdm.exports import ExportError, Period, SignatureError, Signer, wholesale_report
from metra.mdm.exports.selection import one_meter, substation
from metra.mdm.exports.signing import verify_xml
from metra.profiles import load_profile
from tests.exports.keys import operator
from tests.exports.world import DAYS, FIRST, PROFILE, World

NS = {"w": "urn:metra:wholesale:1"}
CREATED = datetime(2025, 4, 2, 8, tzinfo=UTC)
PERIOD = Period(FIRST + timedelta(days=1), FIRST + timedelta(days=DAYS - 2))  # 29.03..30.03


def test_acc4_hourly_report_in_local_hours_with_status(conn: Connection, world: World) -> None:
    sel = one_meter(conn, "SN-2", PERIOD)
    xml, hours = wholesale_report(
        conn, sel, PERIOD, PROFILE, report_id="r-1", operator="olga", created=CREATED
    )
    doc = etree.fromstring(xml)
    a_plus = doc.findall("w:Point/w:Channel[@obis='1-0:1.29.0.255']/w:Hour", NS)
    assert len(a_plus) == 24 + 23 and hours == 2 * len(a_plus)  # 30.03 has 23 local hours
    assert a_plus[0].get("start") == "2025-03-29T00:00:00+01:00"
    # 29.03 10:00-10:45 UTC were lost and interpolated: local hour 11:00 is estimated
    estimated = [h.get("start") for h in a_plus if h.get("status") == "estimated"]
    assert estimated == ["2025-03-29T11:00:00+01:00"]
    wh = world.wh["SN-2"]
    first_hour = wh[96 - 4 : 96].sum() / 1000  # 29.03 00:00 local = 28.03 23:00 UTC
    assert float(a_plus[0].get("v")) == pytest.approx(first_hour, abs=1e-6)  # type: ignore[arg-type]
    total = doc.find("w:Point/w:Channel[@obis='1-0:1.29.0.255']/w:Total", NS)
    assert total is not None
    assert float(total.get("v")) == pytest.approx(sum(float(h.get("v")) for h in a_plus), abs=1e-5)  # type: ignore[arg-type]
    assert doc.get("state") == "preliminary" and doc.get("timeZone") == "Europe/Warsaw"


def test_acc4_signed_report_verifies_and_tampering_is_detected(
    conn: Connection, world: World
) -> None:
    key, cert = operator()
    sel = substation(conn, "SS-1", PERIOD)
    xml, _ = wholesale_report(
        conn, sel, PERIOD, PROFILE, report_id="r-2", operator="olga", created=CREATED,
        state="agreed", signer=Signer(key, cert),
    )  # fmt: skip
    verified = verify_xml(xml, cert)
    assert verified.subject == "CN=Grid Operator" and b"WholesaleReport" in verified.signed_xml
    signature = etree.fromstring(xml).find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureMethod")
    assert signature is not None and signature.get("Algorithm", "").endswith("ecdsa-sha256")
    hour = etree.fromstring(xml).find(".//w:Hour", NS)
    assert hour is not None
    tampered = xml.replace(f'v="{hour.get("v")}"'.encode(), b'v="0.000001"', 1)
    assert tampered != xml
    with pytest.raises(SignatureError):
        verify_xml(tampered, cert)
    _, stranger = operator("Someone Else")
    with pytest.raises(SignatureError):
        verify_xml(xml, stranger)
    unsigned, _ = wholesale_report(
        conn, sel, PERIOD, PROFILE, report_id="r-3", operator="olga", created=CREATED
    )
    with pytest.raises(SignatureError):
        verify_xml(unsigned, cert)
    rsa_key, rsa_cert = operator(kind="rsa")
    rsa_xml, _ = wholesale_report(
        conn, sel, PERIOD, PROFILE, report_id="r-4", operator="olga", created=CREATED,
        signer=Signer(rsa_key, rsa_cert),
    )  # fmt: skip
    assert verify_xml(rsa_xml, rsa_cert).subject == "CN=Grid Operator"
    with pytest.raises(SignatureError):
        wholesale_report(
            conn, sel, PERIOD, PROFILE, report_id="r-5", operator="olga", created=CREATED,
            signer=Signer(key, rsa_cert),
        )  # fmt: skip


def test_jur1_profile_requiring_signature_refuses_unsigned_report(
    conn: Connection, world: World
) -> None:
    ru = load_profile("ru")
    assert ru.reports.signed_wholesale_report and not PROFILE.reports.signed_wholesale_report
    sel = one_meter(conn, "SN-1", PERIOD)
    with pytest.raises(ExportError, match="signed"):
        wholesale_report(conn, sel, PERIOD, ru, report_id="r", operator="o", created=CREATED)
    key, cert = operator()
    xml, _ = wholesale_report(
        conn,
        sel,
        PERIOD,
        ru,
        report_id="r",
        operator="o",
        created=CREATED,
        signer=Signer(key, cert),
    )
    assert etree.fromstring(xml).get("timeZone") == ru.timezone
    verify_xml(xml, cert)
