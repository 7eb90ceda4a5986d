"""The license certificate: what the PDF says, its QR code, its metadata, its bytes."""

import dataclasses
import datetime as dt
from io import BytesIO

import pytest
import time_machine
from pypdf import PdfReader

from wlm.licenses import signing, tokens, verification
from wlm.licenses.pdf import QR_BORDER, QR_SCALE, CertificateData, make_qr, render_certificate

KEY = "7K3QM-X9ZT4-HB2RC-VW8NP-J5D6E"

SAMPLE = CertificateData(
    key=KEY,
    license_type="aps",
    limit=25,
    modules=[("guest", "Guest Wi-Fi"), ("pms", "PMS"), ("enterprise", "Enterprise (802.1X)")],
    years=3,
    payment="annual",
    location_id="3f0c2a9e-8b1d-4e7a-9c55-2d8f6b1a7e40",
    location_name="Downtown Office",
    location_address="12 High Street, Leeds LS1 4DY",
    location_country="United Kingdom",
    organization_name="Acme Offices Ltd",
    partner_name="NetBuilders Integration",
    distributor_name="Wholesale Wireless",
    issued_on=dt.date(2026, 5, 4),
    start_mode="automatic",
)


def read(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    """The text of every page, whitespace collapsed so that wrapped lines still match."""
    return " ".join(" ".join(page.extract_text() for page in read(pdf).pages).split())


def qr_matrix_in(pdf: bytes) -> list[list[int]]:
    """The modules (1 = dark) of the QR image in the PDF, sampled at each module's centre."""
    (image,) = read(pdf).pages[0].images
    gray = image.image.convert("L")
    assert gray.width == gray.height
    modules = gray.width // QR_SCALE - 2 * QR_BORDER

    def dark(row: int, column: int) -> int:
        centre = (
            (QR_BORDER + column) * QR_SCALE + QR_SCALE // 2,
            (QR_BORDER + row) * QR_SCALE + QR_SCALE // 2,
        )
        return int(gray.getpixel(centre) < 128)

    assert gray.getextrema() == (0, 255)  # black on white, nothing in between
    assert not any(gray.getpixel((x, x)) < 128 for x in range(QR_BORDER * QR_SCALE))  # quiet zone
    return [[dark(row, column) for column in range(modules)] for row in range(modules)]


def test_certificate_shows_the_license_data():
    text = text_of(render_certificate(SAMPLE))
    assert "License certificate" in text
    assert KEY in text
    assert "Access points: 25" in text
    for name in ("Guest Wi-Fi", "PMS", "Enterprise (802.1X)"):
        assert name in text
    assert "3 years" in text
    assert "Annual" in text
    assert "Automatic" in text
    assert "ID Location 3f0c2a9e-8b1d-4e7a-9c55-2d8f6b1a7e40" in text
    for value in (
        "Downtown Office",
        "12 High Street, Leeds LS1 4DY",
        "United Kingdom",
        "Acme Offices Ltd",
        "NetBuilders Integration",
        "Wholesale Wireless",
    ):
        assert value in text
    assert "Date of issue 2026-05-04" in text


def test_certificate_has_one_page_and_names_the_license_in_its_metadata():
    reader = read(render_certificate(SAMPLE))
    assert len(reader.pages) == 1
    assert reader.metadata.title == f"License {KEY}"
    assert reader.metadata.author == "Wholesale Wireless"
    assert reader.metadata.creation_date.date() == dt.date(2026, 5, 4)  # issue, not render time


def test_certificate_qr_code_is_the_key():
    # No pure-Python QR decoder exists and zbar/zxing would be native dependencies, so the
    # QR image in the PDF is read back module by module and compared with segno's encoding
    # of the key, made by the same function as the certificate's: the image is exactly the
    # QR code of the key (segno's encoding itself is segno's business and its tests').
    matrix = qr_matrix_in(render_certificate(SAMPLE))
    assert matrix == [list(row) for row in make_qr(KEY).matrix]
    assert matrix != [list(row) for row in make_qr("00000-00000-00000-00000-00000").matrix]
    qr = make_qr(KEY)
    assert not qr.is_micro  # a full QR code, which every phone reads
    assert qr.error in ("M", "Q", "H")  # segno may raise the level when it costs no space


def test_certificate_prints_non_ascii_and_markup_characters():
    data = dataclasses.replace(
        SAMPLE,
        location_name="Hotel Ñandú Málaga",
        location_address="Calle Larios 12, 29005 Málaga",
        location_country="España",
        organization_name="Hoteles Ñandú & Cía <S.L.>",
        partner_name="Müller Netzwerke GmbH",
        distributor_name="Distribuição Ærø Façade",
        modules=[("guest", "Wi-Fi de invitados"), ("pms", "Integración PMS")],
    )
    pdf = render_certificate(data)
    text = text_of(pdf)
    for value in (
        "Hotel Ñandú Málaga",
        "Calle Larios 12, 29005 Málaga",
        "España",
        "Hoteles Ñandú & Cía <S.L.>",  # escaped for reportlab's markup, printed as given
        "Müller Netzwerke GmbH",
        "Distribuição Ærø Façade",
        "Wi-Fi de invitados",
        "Integración PMS",
    ):
        assert value in text
    assert read(pdf).metadata.author == "Distribuição Ærø Façade"


def test_certificate_of_rooms_with_a_fixed_start_and_no_modules():
    data = dataclasses.replace(
        SAMPLE,
        license_type="rooms",
        limit=120,
        years=1,
        payment="monthly",
        modules=[],
        start_mode="fixed",
        fixed_start=dt.date(2026, 6, 1),
    )
    text = text_of(render_certificate(data))
    assert "Rooms: 120" in text
    assert "Access points" not in text
    assert "1 year, not started yet" in text
    assert "Monthly" in text
    assert "Modules None" in text
    assert "Fixed: the term starts on 2026-06-01" in text


def test_certificate_bytes_depend_on_the_data_only():
    with time_machine.travel(dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC), tick=False):
        first = render_certificate(SAMPLE)
    with time_machine.travel(dt.datetime(2031, 12, 31, 23, 59, tzinfo=dt.UTC), tick=False):
        later = render_certificate(SAMPLE)
    assert first == later
    assert render_certificate(dataclasses.replace(SAMPLE, limit=26)) != first


@pytest.mark.parametrize(
    "change",
    [
        {"license_type": "seats"},
        {"payment": "weekly"},
        {"start_mode": "later"},
        {"start_mode": "fixed"},  # without its date
        {"fixed_start": dt.date(2026, 6, 1)},  # a date with the automatic mode
    ],
)
def test_certificate_data_refuses_inconsistent_values(change):
    with pytest.raises(ValueError):
        dataclasses.replace(SAMPLE, **change)


# --- whatever is stored prints ----------------------------------------------------------

TALL_ADDRESS = "Calle 1" + "\n" * 150 + "28001 Madrid"
TALL_NAME = "\n".join("H" * 90)  # 90 lines in 179 characters: fits the column


@pytest.mark.parametrize(
    "change",
    [
        {"location_address": TALL_ADDRESS},
        {"location_name": TALL_NAME},
        {"organization_name": "\n".join(["Org"] * 200), "partner_name": "P\x00\x1b\x0c" * 50},
        {"distributor_name": "W" * 5000},  # one unbroken word, also in the subtitle
        {"modules": [(f"m{n}", f"Module number {n} " + "W" * 90) for n in range(300)]},
        {"location_address": "\u2028".join(["Line"] * 400)},
        {"location_name": "<b>bold</b> & <font size=90>big</font> &amp; <br/><para>"},
    ],
    ids=["150 breaks", "90-line name", "controls", "long word", "300 modules", "U+2028", "markup"],
)
def test_certificate_survives_any_stored_text(change):
    pdf = render_certificate(dataclasses.replace(SAMPLE, **change))
    document = read(pdf)
    assert len(document.pages) <= 2
    assert KEY in text_of(pdf)


def test_markup_in_a_name_prints_as_typed():
    name = "<b>Bar & Grill</b> <br/> &amp;"
    assert name in text_of(render_certificate(dataclasses.replace(SAMPLE, location_name=name)))


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["dist_admin", "partner_viewer"])
def test_pdf_of_a_location_stored_with_tall_text_is_served(world, api, client, who):
    """Rows written before the limits on names and addresses (straight to the database)."""
    from wlm.licenses import services
    from wlm.locations.models import Location

    terms = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="annual", aps=5
    )
    license = services.create_license(world.dist_admin, terms)
    Location.objects.filter(pk=world.shop.pk).update(name=TALL_NAME, address=TALL_ADDRESS)
    response = api(getattr(world, who)).get(f"/api/v1/licenses/{license.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert license.key in text_of(response.content)
    client.force_login(getattr(world, who))
    page = client.get(f"/licenses/{license.pk}/pdf/")
    assert page.status_code == 200
    assert license.key in text_of(page.content)


# A phone at arm's length (50-60 cm) sees about 75 cm of page width: a 1080p video frame
# of a QR scanner then holds about 65 dpi, a 12 MP still about 130. Rendered at 75 dpi and
# decoded by zbar, the verify code must read (docs/licenses-offline.md, "The QR code").
ARMS_LENGTH_DPI = 75


def signed(data: CertificateData, lic: dict) -> CertificateData:
    """``data`` with a token signed by the session's key and its verify link."""
    token = signing.sign({"iss": "https://wifi.example", "iat": 1_800_000_000, "lic": lic})
    return dataclasses.replace(
        data, token=token, verify_url=f"https://wifi.example/verify/#{token}"
    )


def lic_of(locations: list[str], modules: list[str], name: str) -> dict:
    party = {"id": 123456, "name": name}
    return {
        "id": 987654,
        "key": KEY,
        "distributor": party,
        "partner": party,
        "organization": party,
        "locations": [{"id": "3f0c2a9e-8b1d-4e7a-9c55-2d8f6b1a7e40", "name": n} for n in locations],
        "type": "rooms",
        "limit": 12345,
        "modules": modules,
        "years": 5,
        "payment": "monthly",
        "start_mode": "fixed",
        "fixed_start": "2026-06-01",
        "start": "2026-06-01",
        "end": "2031-06-01",
    }


def test_a_started_term_prints_its_dates():
    started = dataclasses.replace(
        SAMPLE, start_date=dt.date(2026, 6, 1), end_date=dt.date(2029, 6, 1)
    )
    assert "3 years: from 2026-06-01 to 2029-06-01" in text_of(render_certificate(started))
    with pytest.raises(ValueError):
        dataclasses.replace(SAMPLE, start_date=dt.date(2026, 6, 1))  # no end


def test_the_verify_page_carries_the_token_its_fingerprint_and_a_code_that_scans():
    data = signed(SAMPLE, lic_of(["Downtown Office"], ["enterprise", "guest", "pms"], "Acme"))
    pdf = render_certificate(data)
    reader = read(pdf)
    assert len(reader.pages) == 2  # the certificate, then its verify page
    first, second = (" ".join(page.extract_text().split()) for page in reader.pages)
    fingerprint = signing.fingerprint(data.token)
    assert f"Fingerprint {fingerprint} (verify on page 2)" in first
    assert fingerprint in second
    assert data.token in second.replace(" ", "")  # printed in lines, for typing or copying
    codes = verification.qr_codes_in_pdf(pdf, dpi=ARMS_LENGTH_DPI)
    assert KEY in codes  # the key's own code, as before
    assert data.verify_url in codes
    assert signing.verify(verification.token_of(data.verify_url))["lic"]["key"] == KEY


def test_the_largest_token_still_fits_its_page_and_scans_from_arms_length():
    """Every name at its budget in the token (wide letters), the most locations a token
    lists, ten modules with codes of the longest length."""
    name = "W" * tokens.NAME_BYTES
    lic = lic_of([name] * tokens.TOKEN_LOCATIONS, ["m" * 40] * 10, name)
    lic["more_locations"] = 99
    data = signed(dataclasses.replace(SAMPLE, location_name="W" * 200), lic)
    pdf = render_certificate(data)
    assert len(read(pdf).pages) == 2
    assert data.verify_url in verification.qr_codes_in_pdf(pdf, dpi=ARMS_LENGTH_DPI)
