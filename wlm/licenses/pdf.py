"""The license certificate (DESIGN §7): an A4 PDF made from plain data, not from models.

The caller (the license service or a view) copies what the certificate shows into a
`CertificateData`, so this module knows nothing of the database and renders the same
bytes for the same data: reportlab's invariant mode drops the build time and random
document id, and the PDF's creation date is the date of issue.

Whatever is stored prints: names become one line and addresses a few (``_printable``),
cut with an ellipsis where a cell would not fit on a page (reportlab cannot lay out a
table row taller than its frame), and every text is escaped for reportlab's markup.

Fonts are reportlab's built-in Helvetica and Courier (no font files to ship). They
cover Windows-1252 — all of Latin-1, so Spanish, French, German, Portuguese… names
("Málaga", "Ñandú") print — but not e.g. Polish "Ł", Greek or CJK, which would print
as boxes; supporting those means registering and embedding a TrueType font here.
"""

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Literal
from xml.sax.saxutils import escape

import segno
from django.http import HttpResponse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext, ngettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from wlm.lib import languages
from wlm.licenses import history, signing, tokens
from wlm.licenses.dates import local_date

# The QR code is embedded as a PNG: QR_SCALE pixels per module and the quiet zone of
# QR_BORDER modules that the QR standard asks for around the symbol.
QR_SCALE = 8
QR_BORDER = 4
QR_SIZE = 36 * mm
# The verify QR code (the signed token's URL: about 1,000 characters for one location,
# at most about 1,500, QR versions 26 to 32) has a page of its own, printed at
# VERIFY_MODULE a module, so its size follows the token's length (docs/licenses-offline.md,
# "The QR code": 116 mm for one location, at most VERIFY_MAX_SIDE).
VERIFY_MODULE = 0.9 * mm
VERIFY_MAX_SIDE = 130 * mm  # a token with many long module codes: smaller modules
TOKEN_LINE = 120  # characters of the printed token a line

ACCENT = colors.HexColor("#1F4E79")
MUTED = colors.HexColor("#5F6B76")
RULE = colors.HexColor("#C9D3DD")
KEY_BACKGROUND = colors.HexColor("#EEF3F8")

LEFT_MARGIN = RIGHT_MARGIN = 20 * mm
CONTENT_WIDTH = A4[0] - LEFT_MARGIN - RIGHT_MARGIN
LABEL_WIDTH = 45 * mm

# What one cell holds, whatever is stored (rows written before the models' limits, or
# straight to the database): in the worst case (every letter a "W") each bound keeps a
# row well under a page's height.
NAME_CHARS = 200  # the longest name the models accept
ADDRESS_LINES = 5
ADDRESS_CHARS = 300
MODULE_CHARS = 100
MODULE_LINES = 12
ELLIPSIS = "…"
# line and paragraph breaks and control characters: a name prints on one line
_NOT_PRINTED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class CertificateData:
    """What one certificate shows; names and addresses as they should print."""

    key: str
    license_type: Literal["aps", "rooms"]
    limit: int
    modules: Sequence[tuple[str, str]]  # (code, name) of each module, in display order
    years: int  # of the current term (from its start to its end once started)
    payment: Literal["monthly", "annual"]
    location_id: str  # the location's public UUID, the "ID Location"
    location_name: str
    location_address: str
    location_country: str  # the country's name, not its code
    organization_name: str
    partner_name: str
    distributor_name: str
    issued_on: dt.date
    start_mode: Literal["automatic", "fixed"]
    fixed_start: dt.date | None = None
    start_date: dt.date | None = None  # the current term, once started
    end_date: dt.date | None = None
    # once renewed: how often, and the years licensed in all (the first term and renewals)
    renewals: int = 0
    total_years: int | None = None
    # the signed terms (wlm.licenses.tokens) and the public page that checks them: the
    # verify QR code and the fingerprint; a certificate without them shows no such block
    token: str = ""
    verify_url: str = ""

    def __post_init__(self) -> None:
        # A wrong value would print a wrong certificate silently: refuse it here.
        if self.license_type not in ("aps", "rooms"):
            raise ValueError(f"unknown license type {self.license_type!r}")
        if self.payment not in ("monthly", "annual"):
            raise ValueError(f"unknown payment {self.payment!r}")
        if self.start_mode not in ("automatic", "fixed"):
            raise ValueError(f"unknown start mode {self.start_mode!r}")
        if (self.start_mode == "fixed") != (self.fixed_start is not None):
            raise ValueError("a fixed start date goes with start mode 'fixed', and only with it")
        if (self.start_date is None) != (self.end_date is None):
            raise ValueError("a term has a start and an end date, or neither")
        if (self.renewals > 0) != (self.total_years is not None):
            raise ValueError("the years in all go with renewals, and only with them")
        if bool(self.token) != bool(self.verify_url):
            raise ValueError("a token goes with the URL of the page that verifies it")


def make_qr(key: str) -> segno.QRCode:
    """The QR code of a license key: a full QR (not Micro QR, which phones seldom read), error
    correction level M at least (segno raises it when that costs no space)."""
    return segno.make(key, error="m", micro=False)


def qr_png(key: str) -> bytes:
    """The key's QR code as the PNG that the certificate embeds."""
    buffer = BytesIO()
    make_qr(key).save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()


def make_verify_qr(url: str) -> segno.QRCode | None:
    """The QR code of the verify page's URL with the token: a full QR code at error
    correction level M (a printed page gets creased and marked), L if only that holds it;
    None beyond the largest QR code (a license with dozens of modules)."""
    for error in ("m", "l"):
        try:
            return segno.make(url, error=error, micro=False)
        except segno.DataOverflowError:
            continue
    return None


def _verify_qr_image(url: str) -> Image | Paragraph:
    qr = make_verify_qr(url)
    if qr is None:
        return Paragraph(
            escape(gettext("These terms are too long for a QR code: paste the token below.")),
            _styles()["value"],
        )
    buffer = BytesIO()
    # four pixels a module: sharp edges however a viewer scales it, and a small file
    qr.save(buffer, kind="png", scale=4, border=QR_BORDER)
    side = min(qr.symbol_size(border=QR_BORDER)[0] * VERIFY_MODULE, VERIFY_MAX_SIDE)
    return Image(BytesIO(buffer.getvalue()), width=side, height=side)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _one_line(text: str, limit: int = NAME_CHARS) -> str:
    """``text`` on one line: breaks and control characters become spaces; at most
    ``limit`` characters."""
    return _cut(" ".join(_NOT_PRINTED.sub(" ", text).split()), limit)


def _few_lines(text: str, lines: int = ADDRESS_LINES, limit: int = ADDRESS_CHARS) -> str:
    """``text``'s non-empty lines, at most ``lines`` (the rest joins the last one) and
    ``limit`` characters in all."""
    kept = [line for line in (_one_line(part, limit) for part in text.splitlines()) if line]
    if len(kept) > lines:
        kept[lines - 1 :] = [", ".join(kept[lines - 1 :])]
    return _cut("\n".join(kept), limit)


def _printable(data: CertificateData) -> CertificateData:
    """``data`` as a certificate can show it, whatever was stored."""
    names = (
        "key",
        "location_id",
        "location_name",
        "location_country",
        "organization_name",
        "partner_name",
        "distributor_name",
    )
    return dataclasses.replace(
        data,
        **{name: _one_line(getattr(data, name)) for name in names},
        location_address=_few_lines(data.location_address),
        modules=[(code, _one_line(name, MODULE_CHARS)) for code, name in data.modules],
    )


def render_certificate(data: CertificateData) -> bytes:
    """Render the license certificate of `data` as the bytes of an A4 PDF."""
    data = _printable(data)
    buffer = BytesIO()
    title = gettext("License certificate")
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=LEFT_MARGIN,
        rightMargin=RIGHT_MARGIN,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=gettext("License %(key)s") % {"key": data.key},
        author=data.distributor_name,
        subject=title,
        creator="WiFi License Manager",
        lang=translation.get_language() or "en",
        invariant=True,
    )

    def on_page(canvas, _document) -> None:
        # The creation date is the date of issue, not the moment of rendering.
        canvas.setDateFormatter(lambda *_now: data.issued_on.strftime("D:%Y%m%d000000Z"))
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(MUTED)
        footer = gettext("License %(key)s · issued on %(date)s") % {
            "key": data.key,
            "date": _date(data.issued_on),
        }
        canvas.drawCentredString(A4[0] / 2, 10 * mm, footer)
        canvas.restoreState()

    document.build(_story(data, title), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _story(data: CertificateData, title: str) -> list:
    styles = _styles()
    header = Table(
        [
            [
                [
                    Paragraph(escape(title), styles["title"]),
                    Paragraph(
                        escape(gettext("Wi-Fi platform license issued by %(distributor)s"))
                        % {"distributor": escape(data.distributor_name)},
                        styles["subtitle"],
                    ),
                ],
                Image(BytesIO(qr_png(data.key)), width=QR_SIZE, height=QR_SIZE),
            ]
        ],
        colWidths=[CONTENT_WIDTH - QR_SIZE, QR_SIZE],
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 1.5, ACCENT),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4 * mm),
            ]
        ),
    )
    key_box = Table(
        [
            [Paragraph(escape(gettext("License key")).upper(), styles["key_label"])],
            [Paragraph(escape(data.key), styles["key"])],
        ],
        colWidths=[CONTENT_WIDTH],
        style=TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), KEY_BACKGROUND),
                ("BOX", (0, 0), (-1, -1), 0.75, RULE),
                ("TOPPADDING", (0, 0), (-1, 0), 4 * mm),
                ("BOTTOMPADDING", (0, -1), (-1, -1), 5 * mm),
            ]
        ),
    )
    return [
        header,
        Spacer(0, 7 * mm),
        key_box,
        Spacer(0, 3 * mm),
        _section(gettext("License"), _license_rows(data), styles),
        _section(gettext("Location"), _location_rows(data), styles),
        _section(
            gettext("Sales channel"),
            [
                (gettext("Partner"), data.partner_name),
                (gettext("Distributor"), data.distributor_name),
                (gettext("Date of issue"), _date(data.issued_on)),
            ],
            styles,
        ),
        Spacer(0, 8 * mm),
        Paragraph(
            escape(
                gettext(
                    "Enter this key on the location above (Send Key) to activate the license. "
                    "Keep this certificate: the key is the proof of the license."
                )
            ),
            styles["note"],
        ),
        *_verify_block(data, styles),
    ]


def _verify_block(data: CertificateData, styles: dict) -> list:
    """The second page: the signed terms as a QR code (the verify page's URL with the
    token), large enough to scan from arm's length, the fingerprint a person compares with
    that page, and the token itself for typing or copying."""
    if not data.token:
        return []
    page = data.verify_url.partition("#")[0]
    lines = [data.token[at : at + TOKEN_LINE] for at in range(0, len(data.token), TOKEN_LINE)]
    image = _verify_qr_image(data.verify_url)
    image.hAlign = "CENTER"
    return [
        PageBreak(),
        Paragraph(escape(gettext("Verify this license")), styles["title"]),
        Spacer(0, 3 * mm),
        Paragraph(
            escape(
                gettext(
                    "The terms on this certificate are signed by the platform. Scan the code "
                    "with a phone to check them on the platform's verify page, which shows "
                    "the same fingerprint, or paste the token below into %(page)s. Offline, "
                    "anyone with the platform's published keys can check the token. A new "
                    "token is issued when the terms change (start, renewal, upgrade, another "
                    "location): the latest certificate carries it."
                )
                % {"page": page}
            ),
            styles["value"],
        ),
        Spacer(0, 5 * mm),
        image,
        Spacer(0, 5 * mm),
        _section(
            gettext("Signed terms"),
            [
                (gettext("Token fingerprint"), signing.fingerprint(data.token)),
                (gettext("Verify page"), page),
            ],
            styles,
        ),
        Spacer(0, 4 * mm),
        Paragraph(escape(gettext("Token")).upper(), styles["key_label"]),
        Spacer(0, 2 * mm),
        Paragraph("<br/>".join(escape(line) for line in lines), styles["token"]),
    ]


def _license_rows(data: CertificateData) -> list[tuple[str, str]]:
    if data.license_type == "rooms":
        limit = gettext("Rooms: %(limit)d") % {"limit": data.limit}
    else:
        limit = gettext("Access points: %(limit)d") % {"limit": data.limit}
    payment = gettext("Monthly") if data.payment == "monthly" else gettext("Annual")
    if data.start_mode == "fixed":
        assert data.fixed_start is not None  # checked in CertificateData
        start = gettext("Fixed: the term starts on %(date)s") % {"date": _date(data.fixed_start)}
    else:
        start = gettext("Automatic: the term starts when devices first connect")
    names = [name for _code, name in data.modules]
    if len(names) > MODULE_LINES:  # a longer list would not fit on a page
        more = len(names) - (MODULE_LINES - 1)
        names[MODULE_LINES - 1 :] = [
            ngettext("… and %(count)d more", "… and %(count)d more", more) % {"count": more}
        ]
    modules = "\n".join(names) or gettext("None")
    term = ngettext("%(years)d year", "%(years)d years", data.years) % {"years": data.years}
    if data.start_date is not None and data.end_date is not None:
        term = gettext("%(term)s: from %(start)s to %(end)s") % {
            "term": term,
            "start": _date(data.start_date),
            "end": _date(data.end_date),
        }
    else:
        term = gettext("%(term)s, not started yet") % {"term": term}
    if data.renewals:
        term += "\n" + history.renewed_text(data.renewals, data.total_years)
    rows = [
        (gettext("Type and limit"), limit),
        (gettext("Modules"), modules),
        (gettext("Term"), term),
        (gettext("Payment"), payment),
        (gettext("Start"), start),
    ]
    if data.token:
        signed = gettext("Fingerprint %(fingerprint)s (verify on page 2)") % {
            "fingerprint": signing.fingerprint(data.token)
        }
        rows.append((gettext("Signed terms"), signed))
    return rows


def _location_rows(data: CertificateData) -> list[tuple[str, str]]:
    return [
        (gettext("ID Location"), data.location_id),
        (gettext("Name"), data.location_name),
        (gettext("Address"), data.location_address),
        (gettext("Country"), data.location_country),
        (gettext("Organization"), data.organization_name),
    ]


def _section(heading: str, rows: list[tuple[str, str]], styles: dict) -> Table:
    """A heading over label/value rows; values may hold several lines."""
    cells = [[Paragraph(escape(heading), styles["heading"]), ""]]
    for label, value in rows:
        text = "<br/>".join(escape(line) for line in value.splitlines()) or "—"
        cells.append([Paragraph(escape(label), styles["label"]), Paragraph(text, styles["value"])])
    return Table(
        cells,
        colWidths=[LABEL_WIDTH, CONTENT_WIDTH - LABEL_WIDTH],
        style=TableStyle(
            [
                ("SPAN", (0, 0), (-1, 0)),
                ("TOPPADDING", (0, 0), (-1, 0), 6 * mm),
                ("LINEBELOW", (0, 0), (-1, 0), 0.75, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 1), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 1), (-1, -1), 2),
            ]
        ),
    )


def _date(value: dt.date) -> str:
    # ISO 8601: unambiguous for every distributor's country, whatever the page language.
    return value.isoformat()


def _styles() -> dict[str, ParagraphStyle]:
    return {
        "title": ParagraphStyle(
            "title", fontName="Helvetica-Bold", fontSize=24, leading=29, textColor=ACCENT
        ),
        "subtitle": ParagraphStyle(
            "subtitle", fontName="Helvetica", fontSize=10, leading=14, textColor=MUTED
        ),
        "key_label": ParagraphStyle(
            "key_label",
            fontName="Helvetica-Bold",
            fontSize=8,
            leading=10,
            textColor=MUTED,
            alignment=TA_CENTER,
        ),
        # Courier: one width per symbol, so 0/O and 1/I/L don't blur together.
        "key": ParagraphStyle(
            "key", fontName="Courier-Bold", fontSize=21, leading=26, alignment=TA_CENTER
        ),
        "heading": ParagraphStyle(
            "heading", fontName="Helvetica-Bold", fontSize=12, leading=15, textColor=ACCENT
        ),
        "label": ParagraphStyle(
            "label", fontName="Helvetica", fontSize=9.5, leading=13, textColor=MUTED
        ),
        "value": ParagraphStyle("value", fontName="Helvetica", fontSize=10, leading=13),
        "token": ParagraphStyle(
            "token", fontName="Courier", fontSize=6, leading=7.5, alignment=TA_CENTER
        ),
        "note": ParagraphStyle(
            "note", fontName="Helvetica-Oblique", fontSize=8.5, leading=11, textColor=MUTED
        ),
    }


def certificate_for(license) -> bytes:
    """The certificate of a stored license (its intended location's data, date of issue
    in the license's time zone)."""
    location = license.location
    token = tokens.latest(license)
    current = history.term(license)
    return render_certificate(
        CertificateData(
            key=license.key,
            license_type=license.license_type,
            limit=license.limit,
            modules=[(module.code, module.name) for module in license.modules.all()],
            years=current.years,
            payment=license.payment,
            location_id=str(location.pk),
            location_name=location.name,
            location_address=location.address,
            location_country=str(location.country.name),
            organization_name=location.organization.name,
            partner_name=license.partner.name,
            distributor_name=license.distributor.name,
            issued_on=local_date(license.created, license.timezone),
            start_mode=license.start_mode,
            fixed_start=license.fixed_start,
            start_date=current.start,
            end_date=current.end,
            renewals=current.renewals,
            total_years=current.total_years,
            token=token,
            verify_url=tokens.verify_url(token),
        )
    )


def certificate_language(license, asked: str | None = None) -> str:
    """The certificate's language: ``asked`` (``?language=``, checked by the caller), else
    the customer's — the organization's language, that of the intended location's
    organization before Send Key (docs/i18n.md)."""
    if asked:
        return asked
    organization = license.organization or license.location.organization
    return languages.supported(organization.language)


def certificate_response(license, language: str | None = None) -> HttpResponse:
    """The certificate of a stored license as a download, in ``language`` or the
    customer's: the one answer of the API's ``pdf`` action and of the license page's
    link."""
    language = certificate_language(license, language)
    with translation.override(language):
        pdf = certificate_for(license)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Language"] = language
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"license-{license.key}.pdf"
    )
    return response
