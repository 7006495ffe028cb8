"""Print-ready PDFs: certificates (card size, ten to an A4 sheet, with cut marks),
資格情報のお知らせ (A4 with a card-size cut-out), and a cover sheet per office.

The font is IPAex Gothic, shipped in certificates/fonts and embedded (subset) in every
PDF, so the output prints the same on a machine without Japanese fonts.
"""

import io
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from members.models import Member

from .rules import japanese_date

FONT = "IPAexGothic"
FONT_FILE = Path(__file__).resolve().parent / "fonts" / "ipaexg.ttf"

CARD_W, CARD_H = 86 * mm, 54 * mm
GUTTER = 4 * mm
COLUMNS, ROWS = 2, 5
PER_SHEET = COLUMNS * ROWS
PAGE_W, PAGE_H = A4
LEFT = (PAGE_W - COLUMNS * CARD_W - (COLUMNS - 1) * GUTTER) / 2
TOP = PAGE_H - (PAGE_H - ROWS * CARD_H - (ROWS - 1) * GUTTER) / 2
MARK = 2.5 * mm
SEX = dict(Member.Sex.choices)

Progress = Callable[[int], None]


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(FONT_FILE)))
    return FONT


def _canvas(buffer: io.BytesIO, title: str) -> Canvas:
    canvas = Canvas(
        buffer, pagesize=A4, pageCompression=1, initialFontName=_font(), initialFontSize=8
    )
    canvas.setTitle(title)
    canvas.setAuthor("健康保険組合 資格管理")
    return canvas


def _cut_marks(canvas: Canvas, x: float, y: float) -> None:
    """Short marks in the gutter at each corner of a card (トンボ)."""
    canvas.setLineWidth(0.3)
    canvas.setStrokeGray(0.45)
    for cx in (x, x + CARD_W):
        for cy in (y, y + CARD_H):
            dx = -1 if cx == x else 1
            dy = -1 if cy == y else 1
            canvas.line(cx + dx * 0.8 * mm, cy, cx + dx * (0.8 * mm + MARK), cy)
            canvas.line(cx, cy + dy * 0.8 * mm, cx, cy + dy * (0.8 * mm + MARK))


def _label_value(
    canvas: Canvas, x: float, y: float, label: str, value: str, size: float = 6.6
) -> None:
    canvas.setFont(FONT, 5.2)
    canvas.setFillGray(0.3)
    canvas.drawString(x, y, label)
    canvas.setFont(FONT, size)
    canvas.setFillGray(0)
    canvas.drawString(x + canvas.stringWidth(label, FONT, 5.2) + 1.2 * mm, y, value)


def draw_certificate(canvas: Canvas, certificate, x: float, y: float) -> None:
    """One card. `certificate` is a Certificate (or anything with its printed fields)."""
    canvas.setLineWidth(0.6)
    canvas.setStrokeGray(0)
    canvas.roundRect(x, y, CARD_W, CARD_H, 2 * mm)
    left, line = x + 3.5 * mm, y + CARD_H - 6.5 * mm
    canvas.setFont(FONT, 9)
    canvas.drawString(left, line, certificate.title)
    canvas.setFont(FONT, 5.5)
    canvas.drawRightString(
        x + CARD_W - 3.5 * mm, line, f"交付年月日 {japanese_date(certificate.issued_on)}"
    )
    line -= 5.5 * mm
    _label_value(canvas, left, line, "記号", certificate.symbol, 8)
    _label_value(canvas, left + 22 * mm, line, "番号", certificate.number, 8)
    _label_value(canvas, left + 48 * mm, line, "枝番", certificate.branch, 8)
    line -= 4.2 * mm
    canvas.setFont(FONT, 5)
    canvas.drawString(
        left + 7 * mm, line, f"{certificate.family_name_kana} {certificate.given_name_kana}"
    )
    line -= 4 * mm
    _label_value(
        canvas, left, line, "氏名", f"{certificate.family_name} {certificate.given_name}", 9.5
    )
    _label_value(canvas, left + 50 * mm, line, "性別", SEX.get(certificate.sex, ""))
    line -= 4.6 * mm
    _label_value(canvas, left, line, "生年月日", japanese_date(certificate.birth_date))
    acquired = "認定年月日" if certificate.is_dependent else "資格取得年月日"
    _label_value(canvas, left + 38 * mm, line, acquired, japanese_date(certificate.acquired_on))
    if certificate.is_dependent:
        line -= 4.2 * mm
        _label_value(canvas, left, line, "被保険者氏名", certificate.insured_name)
    if certificate.copay:
        line -= 4.2 * mm
        _label_value(canvas, left, line, "一部負担金の割合", f"{certificate.copay}割", 7.5)
        _label_value(
            canvas, left + 32 * mm, line, "発効期日", japanese_date(certificate.copay_effective_on)
        )
    line -= 5 * mm
    _label_value(canvas, left, line, "有効期限", japanese_date(certificate.valid_until), 8.5)
    bottom = y + 3.2 * mm
    canvas.setFont(FONT, 5.2)
    canvas.drawString(
        left,
        bottom + 3.2 * mm,
        f"保険者番号 {certificate.insurer_number}　{certificate.insurer_name}",
    )
    canvas.drawString(left, bottom, f"所在地 {certificate.insurer_address}")


def _by_office(items: Iterable) -> list[tuple[str, list]]:
    ordered = sorted(items, key=lambda item: (item.symbol, item.number, item.branch))
    return [
        (symbol, list(group)) for symbol, group in groupby(ordered, key=lambda item: item.symbol)
    ]


def render_certificates(
    certificates: Sequence, *, title: str, progress: Progress | None = None
) -> bytes:
    """All certificates, sorted by office; every office starts on a new sheet."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    done = 0
    for _, group in _by_office(certificates):
        for start in range(0, len(group), PER_SHEET):
            for index, certificate in enumerate(group[start : start + PER_SHEET]):
                column, row = index % COLUMNS, index // COLUMNS
                x = LEFT + column * (CARD_W + GUTTER)
                y = TOP - (row + 1) * CARD_H - row * GUTTER
                _cut_marks(canvas, x, y)
                draw_certificate(canvas, certificate, x, y)
                done += 1
            canvas.setFont(FONT, 6)
            canvas.drawString(
                LEFT, 4 * mm, f"{title}　記号 {group[0].symbol} {group[0].office_name}"
            )
            canvas.showPage()
            if progress:
                progress(done)
    canvas.save()
    return buffer.getvalue()


NOTICE_LINES = (
    "この通知は、あなたの健康保険の資格情報（記号・番号など）をお知らせするものです。",
    "医療機関や薬局では、マイナ保険証（保険証として利用登録したマイナンバーカード）で受診してください。",
    "この通知だけでは受診できません。カードを読み取れないときに、マイナ保険証と一緒に見せてください。",
    "下の枠を切り取って、マイナ保険証と一緒に持ち歩くことができます。",
)


def render_notices(notices: Sequence, *, title: str) -> bytes:
    """資格情報のお知らせ, one A4 page each, with a card-size part to cut out."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    for _, group in _by_office(notices):
        for notice in group:
            canvas.setFont(FONT, 16)
            canvas.drawString(25 * mm, PAGE_H - 30 * mm, "資格情報のお知らせ")
            canvas.setFont(FONT, 10)
            canvas.drawString(
                25 * mm, PAGE_H - 42 * mm, f"{notice.family_name} {notice.given_name} 様"
            )
            canvas.setFont(FONT, 8.5)
            for index, text in enumerate(NOTICE_LINES):
                canvas.drawString(25 * mm, PAGE_H - (55 + index * 6) * mm, text)
            canvas.drawRightString(
                PAGE_W - 25 * mm, PAGE_H - 30 * mm, f"作成日 {japanese_date(notice.issued_on)}"
            )
            x, y = PAGE_W - 25 * mm - CARD_W, 25 * mm
            canvas.setDash(2, 2)
            canvas.rect(x - 2 * mm, y - 2 * mm, CARD_W + 4 * mm, CARD_H + 4 * mm)
            canvas.setDash()
            canvas.roundRect(x, y, CARD_W, CARD_H, 2 * mm)
            left, line = x + 3.5 * mm, y + CARD_H - 7 * mm
            canvas.setFont(FONT, 9)
            canvas.drawString(left, line, "資格情報のお知らせ")
            line -= 6 * mm
            _label_value(canvas, left, line, "記号", notice.symbol, 8)
            _label_value(canvas, left + 22 * mm, line, "番号", notice.number, 8)
            _label_value(canvas, left + 48 * mm, line, "枝番", notice.branch, 8)
            line -= 5.5 * mm
            _label_value(canvas, left, line, "氏名", f"{notice.family_name} {notice.given_name}", 9)
            line -= 5 * mm
            _label_value(canvas, left, line, "生年月日", japanese_date(notice.birth_date))
            line -= 5 * mm
            _label_value(canvas, left, line, "資格取得年月日", japanese_date(notice.acquired_on))
            if notice.copay:
                line -= 5 * mm
                _label_value(canvas, left, line, "一部負担金の割合", f"{notice.copay}割")
            canvas.setFont(FONT, 5.5)
            canvas.drawString(
                left, y + 3.5 * mm, f"保険者番号 {notice.insurer_number}　{notice.insurer_name}"
            )
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def render_cover_sheets(
    certificates: Sequence, notices: Sequence, *, offices: dict, title: str
) -> bytes:
    """送付書: per office, the list of what its envelope holds."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    documents = [("資格確認書", c, japanese_date(c.valid_until)) for c in certificates]
    documents += [("資格情報のお知らせ", n, "") for n in notices]
    documents.sort(key=lambda d: (d[1].symbol, d[1].number, d[1].branch, d[0]))
    for symbol, group in groupby(documents, key=lambda d: d[1].symbol):
        rows = list(group)
        office = offices.get(symbol)
        for start in range(0, len(rows), 40):
            canvas.setFont(FONT, 14)
            canvas.drawString(20 * mm, PAGE_H - 25 * mm, "送付書（事業主の方へ）")
            canvas.setFont(FONT, 9.5)
            if office is not None:
                canvas.drawString(
                    20 * mm, PAGE_H - 35 * mm, f"〒{office.postal_code}　{office.address}"
                )
                canvas.drawString(
                    20 * mm, PAGE_H - 41 * mm, f"{office.name}　御中（記号 {symbol}）"
                )
            canvas.setFont(FONT, 8.5)
            canvas.drawString(
                20 * mm,
                PAGE_H - 50 * mm,
                f"次の{len(rows)}通を同封します。ご本人・ご家族へのお渡しをお願いします。",
            )
            line = PAGE_H - 60 * mm
            canvas.setFont(FONT, 8)
            for header, dx in (
                ("記号-番号-枝番", 0),
                ("氏名", 40),
                ("書類", 85),
                ("有効期限", 130),
            ):
                canvas.drawString((20 + dx) * mm, line, header)
            for kind, item, until in rows[start : start + 40]:
                line -= 5 * mm
                canvas.drawString(20 * mm, line, f"{item.symbol}-{item.number}-{item.branch}")
                canvas.drawString(60 * mm, line, f"{item.family_name} {item.given_name}")
                canvas.drawString(105 * mm, line, kind)
                canvas.drawString(150 * mm, line, until)
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()


MAILING_HEADER = (
    "symbol",
    "office_name",
    "postal_code",
    "address",
    "number",
    "branch",
    "name",
    "document",
    "valid_until",
)


def mailing_rows(certificates: Sequence, notices: Sequence, *, offices: dict) -> list[tuple]:
    """One row per enclosed document, by office (the mailing list CSV)."""
    rows = []
    for kind, items in (("資格確認書", certificates), ("資格情報のお知らせ", notices)):
        for item in items:
            office = offices.get(item.symbol)
            rows.append(
                (
                    item.symbol,
                    office.name if office else "",
                    office.postal_code if office else "",
                    office.address if office else "",
                    item.number,
                    item.branch,
                    f"{item.family_name} {item.given_name}",
                    kind,
                    item.valid_until.isoformat() if hasattr(item, "valid_until") else "",
                )
            )
    return sorted(rows, key=lambda row: (row[0], row[4], row[5], row[7]))
