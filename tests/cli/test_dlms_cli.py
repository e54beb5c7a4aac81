"""``metra dlms decode`` and ``metra read`` as a user runs them (COL-7, SEC-2).

The decode inputs are published examples: the Green Book's LN no-security AARQ, an AARQ carried in
an HDLC I-frame from a published client/server session, and the Green Book's ciphered
glo-get-request (authenticated and encrypted) with its published keys.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator

import pytest
from support.dlms_model import DictModel, rights
from typer.testing import CliRunner

from metra.cli.main import app
from metra.dlms.acse import Mechanism
from metra.dlms.data import DoubleLongUnsigned, OctetString
from metra.dlms.protection import SecurityContext
from metra.dlms.server import AssociationConfig
from metra.net.server import ServedDevice, serve

runner = CliRunner()

# Green Book: AARQ, LN referencing, no security.
AARQ = "601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0"
# Green Book: glo-get-request (security control 0x30: authenticated and encrypted) of the clock,
# system title 4D4D4D0000BC614E, EK 000102...0F, AK D0D1...DF.
GLO_GET = "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B"
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
TITLE = "4D4D4D0000BC614E"


def test_decode_bare_aarq_as_json() -> None:
    result = runner.invoke(app, ["dlms", "decode", AARQ])
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    assert tree["frame"] == "none"
    assert tree["apdu"]["type"] == "aarq"
    assert tree["apdu"]["application-context"] == "ln"
    inner = tree["apdu"]["user-information-decoded"]
    assert inner["type"] == "initiate-request"
    assert inner["client-max-receive-pdu-size"] == 0x04B0


# An LLS AARQ in an HDLC I-frame (client 0x10 -> server 1) from a published client/server
# session; the same frame is a vector of tests/dlms/test_hdlc.py.
AARQ_I_FRAME = (
    "7EA044030310659 4E6E600".replace(" ", "")
    + "6036A1090607608574050801018A0207808B0760857405080201AC0A80087852775062457846"
    + "BE10040E01000000065F1F0400007E1F0100"
    + "AFDF7E"
)


def test_decode_hdlc_frame_with_llc() -> None:
    result = runner.invoke(app, ["dlms", "decode", AARQ_I_FRAME])
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    assert tree["frame"] == "hdlc"
    assert tree["llc"] == "e6e600"
    assert tree["apdu"]["type"] == "aarq"


def test_decode_wrapper_frame_as_xml() -> None:
    frame = "0001001000010" + format(len(AARQ) // 2, "03x") + AARQ
    result = runner.invoke(app, ["dlms", "decode", frame, "--xml"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("<Decoded>")
    assert '<Frame Value="wrapper" />' in result.output


def test_decode_deciphers_with_keys() -> None:
    # SEC-2: the published ciphered APDU deciphers to the clock get-request.
    result = runner.invoke(
        app, ["dlms", "decode", GLO_GET, "--ek", EK, "--ak", AK, "--system-title", TITLE]
    )
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)["apdu"]
    assert tree["invocation-counter"] == 0x01234567
    content = tree["content"]
    assert content["type"] == "get-request-normal"
    assert content["attribute"]["class-id"] == 8
    assert content["attribute"]["instance-id"] == "0000010000ff"


def test_decode_with_wrong_key_fails_cleanly() -> None:
    result = runner.invoke(
        app, ["dlms", "decode", GLO_GET, "--ek", AK, "--ak", AK, "--system-title", TITLE]
    )
    assert result.exit_code != 0
    assert "cannot decipher" in result.output
    assert AK.lower() not in result.output.lower()


@pytest.mark.parametrize(
    "bad",
    ["601DA109060760857405", "C0", "zz", "0001001000010099C001"],
)
def test_decode_malformed_input_names_offset(bad: str) -> None:
    result = runner.invoke(app, ["dlms", "decode", bad])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error:")
    if bad != "zz":
        assert "offset" in lines[0]


ENERGY = bytes.fromhex("0100010800ff")
SERVER_TITLE = bytes.fromhex("4d4d4d0000bc614e")


@pytest.fixture
def served_meter() -> Iterator[tuple[int, bytes, bytes]]:
    ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    model = DictModel(
        values={(3, ENERGY): {1: OctetString(ENERGY), 2: DoubleLongUnsigned(4242)}},
        rights_by_association={"management": rights(read=[1, 2])},
    )
    configs = {
        1: AssociationConfig(
            1, "management", Mechanism.HLS_GMAC, security=SecurityContext(SERVER_TITLE, ek, ak)
        )
    }
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve(ServedDevice(configs, model, "hdlc")))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port, ek, ak
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.close()


def test_read_attribute_over_hdlc_with_hls_gmac(served_meter: tuple[int, bytes, bytes]) -> None:
    # COL-7: on-demand read of any attribute, SEC-2: HLS-GMAC ciphered session.
    port, ek, ak = served_meter
    result = runner.invoke(
        app,
        [
            "read",
            "--port",
            str(port),
            "--transport",
            "hdlc",
            "--client",
            "1",
            "--auth",
            "hls-gmac",
            "--system-title",
            "4d4d4d0000000001",
            "--obis",
            "1-0:1.8.0.255",
            "--class",
            "3",
            "--attr",
            "2",
        ],
        env={"METRA_EK": ek.hex(), "METRA_AK": ak.hex()},
    )
    assert result.exit_code == 0, result.output
    # This meter has no Public association, so the counter starts at 0 with a note on stderr.
    assert "no published invocation counter" in result.stderr
    out = json.loads(result.stdout)
    assert out["obis"] == "1-0:1.8.0.255"
    assert out["value"] == {"type": "double-long-unsigned", "value": 4242}


def test_read_with_wrong_key_fails_in_one_line(served_meter: tuple[int, bytes, bytes]) -> None:
    port, _, ak = served_meter
    result = runner.invoke(
        app,
        [
            "read",
            "--port",
            str(port),
            "--transport",
            "hdlc",
            "--client",
            "1",
            "--auth",
            "hls-gmac",
            "--system-title",
            "4d4d4d0000000001",
            "--obis",
            "1.0.1.8.0.255",
            "--class",
            "3",
        ],
        env={"METRA_EK": secrets.token_hex(16), "METRA_AK": ak.hex()},
    )
    assert result.exit_code != 0
    assert "refused" in result.output


def test_read_needs_exactly_one_target() -> None:
    result = runner.invoke(app, ["read", "--port", "1"])
    assert result.exit_code != 0
    assert "exactly one of --obis or --profile" in result.output
