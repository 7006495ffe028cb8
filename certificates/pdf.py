"""Print-ready PDFs: certificates (card size, ten to an A4 sheet, with cut marks; or one
A4 page each with a card-size cut-out), 資格情報のお知らせ (A4 with a card-size cut-out), a
cover sheet per office, and the per-envelope check sheet; the envelope list's rows.

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


CARD = "card"
A4_PAGE = "a4"


def _consecutive_by_office(items: Sequence) -> list[tuple[str, list]]:
    return [(symbol, list(group)) for symbol, group in groupby(items, key=lambda i: i.symbol)]


def render_certificates(
    certificates: Sequence,
    *,
    title: str,
    progress: Progress | None = None,
    layout: str = CARD,
    in_given_order: bool = False,
    sheet_per_office: bool = True,
) -> bytes:
    """All certificates; by default sorted by office, every office on a new sheet.

    `in_given_order`: keep the order given (the batch's envelope order), starting a new
    sheet when the office changes if `sheet_per_office`. `layout` A4_PAGE prints one
    certificate per A4 page with explanatory text and a card-size cut-out.
    """
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    if not in_given_order:
        groups = _by_office(certificates)
    elif sheet_per_office:
        groups = _consecutive_by_office(certificates)
    else:
        groups = [("", list(certificates))] if certificates else []
    done = 0
    for symbol, group in groups:
        footer = f"{title}　記号 {symbol} {group[0].office_name}" if symbol else title
        if layout == A4_PAGE:
            for certificate in group:
                _a4_certificate_page(canvas, certificate, footer)
                done += 1
                if progress and done % PER_SHEET == 0:
                    progress(done)
            continue
        for start in range(0, len(group), PER_SHEET):
            for index, certificate in enumerate(group[start : start + PER_SHEET]):
                column, row = index % COLUMNS, index // COLUMNS
                x = LEFT + column * (CARD_W + GUTTER)
                y = TOP - (row + 1) * CARD_H - row * GUTTER
                _cut_marks(canvas, x, y)
                draw_certificate(canvas, certificate, x, y)
                done += 1
            canvas.setFont(FONT, 6)
            canvas.drawString(LEFT, 4 * mm, footer)
            canvas.showPage()
            if progress:
                progress(done)
    canvas.save()
    return buffer.getvalue()


A4_CERTIFICATE_LINES = (
    "あなたの資格確認書をお送りします。医療機関や薬局で受診するときに窓口で見せてください。",
    "点線で切り取って持ち歩くこともできます（切り取った部分だけで資格確認書として使えます）。",
    "有効期限を過ぎたもの、資格がなくなった後のものは使えません。健康保険組合へ返してください。",
    "記載内容に誤りがあるとき、なくしたときは、健康保険組合へお問い合わせください。",
)


def _a4_certificate_page(canvas: Canvas, certificate, footer: str) -> None:
    """One certificate on one A4 page: title, explanation, and the card to cut out."""
    canvas.setFont(FONT, 16)
    canvas.drawString(25 * mm, PAGE_H - 30 * mm, certificate.title)
    canvas.setFont(FONT, 10)
    canvas.drawString(
        25 * mm, PAGE_H - 42 * mm, f"{certificate.family_name} {certificate.given_name} 様"
    )
    canvas.setFont(FONT, 8.5)
    for index, text in enumerate(A4_CERTIFICATE_LINES):
        canvas.drawString(25 * mm, PAGE_H - (55 + index * 6) * mm, text)
    canvas.drawRightString(
        PAGE_W - 25 * mm, PAGE_H - 30 * mm, f"交付年月日 {japanese_date(certificate.issued_on)}"
    )
    x, y = (PAGE_W - CARD_W) / 2, 40 * mm
    canvas.setDash(2, 2)
    canvas.setStrokeGray(0.45)
    canvas.rect(x - 3 * mm, y - 3 * mm, CARD_W + 6 * mm, CARD_H + 6 * mm)
    canvas.setDash()
    canvas.setFont(FONT, 6)
    canvas.drawString(x - 3 * mm, y + CARD_H + 4.5 * mm, "きりとり線")
    draw_certificate(canvas, certificate, x, y)
    canvas.setFont(FONT, 6)
    canvas.drawString(25 * mm, 12 * mm, footer)
    canvas.showPage()


NOTICE_LINES = (
    "この通知は、あなたの健康保険の資格情報（記号・番号など）をお知らせするものです。",
    "医療機関や薬局では、マイナ保険証（保険証として利用登録したマイナンバーカード）で受診してください。",
    "この通知だけでは受診できません。カードを読み取れないときに、マイナ保険証と一緒に見せてください。",
    "下の枠を切り取って、マイナ保険証と一緒に持ち歩くことができます。",
)


def render_notices(notices: Sequence, *, title: str, in_given_order: bool = False) -> bytes:
    """資格情報のお知らせ, one A4 page each, with a card-size part to cut out."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    groups = [("", list(notices))] if in_given_order else _by_office(notices)
    for _, group in groups:
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


def reissue_fee_text(fee: int | None) -> str:
    """What the cover letter says about the reissue fee (保険者設定, frozen on the batch)."""
    return "再交付手数料: 無料" if not fee else f"再交付手数料: {fee:,}円（1通につき）"


def render_cover_sheets(
    certificates: Sequence,
    notices: Sequence,
    *,
    offices: dict,
    title: str,
    reissue_fee: int | None = None,
) -> bytes:
    """送付書: per office, the list of what its envelope holds; where it holds a reissue,
    the reissue fee (or 無料)."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    documents = [(certificate_label(c), c, japanese_date(c.valid_until)) for c in certificates]
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
            if any(getattr(item, "reason", "") == "reissue" for _, item, _ in rows):
                canvas.drawString(20 * mm, PAGE_H - 55 * mm, reissue_fee_text(reissue_fee))
            line = PAGE_H - 62 * mm
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


def certificate_label(certificate) -> str:
    return "資格確認書（再交付）" if certificate.reason == "reissue" else "資格確認書"


def document_label(item, *, resent: bool) -> str:
    label = certificate_label(item) if hasattr(item, "valid_until") else "資格情報のお知らせ"
    return f"{label}（再送）" if resent else label


ENVELOPE_HEADER = (
    "envelope",
    "route",
    "symbol",
    "office_name",
    "number",
    "addressee",
    "postal_code",
    "address",
    "document_count",
    "documents",
    "resent_from",
)


def envelope_rows(envelopes: Sequence, *, offices: dict) -> list[tuple]:
    """One row per envelope, in envelope order; `documents` lists every enclosed document
    as `記号-番号-枝番 氏名 書類` separated by ` / `. Each envelope carries `.documents`,
    a list of (label, item), and `.resent_from_labels`."""
    rows = []
    for envelope in envelopes:
        office = offices.get(envelope.office_id)
        rows.append(
            (
                str(envelope.sequence),
                envelope.route,
                envelope.office_id,
                office.name if office else "",
                envelope.number,
                envelope.addressee,
                envelope.postal_code,
                envelope.address,
                str(len(envelope.documents)),
                " / ".join(
                    f"{item.symbol}-{item.number}-{item.branch} {item.family_name} {item.given_name} {label}"
                    for label, item in envelope.documents
                ),
                " ".join(envelope.resent_from_labels),
            )
        )
    return rows


ROUTE_LABELS = {"office": "事業所経由", "direct": "住所へ直接郵送"}
SECTION_LINE = 5 * mm


def render_check_sheet(
    envelopes: Sequence, *, offices: dict, title: str, reissue_fee: int | None = None
) -> bytes:
    """封入チェックシート: a section per envelope (never split across pages) with its
    number, route, addressee and a box to tick for each document put in it."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, title)
    top, bottom = PAGE_H - 20 * mm, 15 * mm
    line = top
    for envelope in envelopes:
        has_reissue = any(
            getattr(item, "reason", "") == "reissue" for _, item in envelope.documents
        )
        height = (4 + len(envelope.documents) + has_reissue) * SECTION_LINE
        if line - height < bottom and line != top:
            _check_sheet_footer(canvas, title)
            line = top
        office = offices.get(envelope.office_id)
        canvas.setFont(FONT, 11)
        canvas.drawString(20 * mm, line, f"封筒番号 {envelope.sequence}")
        canvas.setFont(FONT, 9)
        canvas.drawString(
            55 * mm,
            line,
            f"{ROUTE_LABELS[envelope.route]}　記号-番号 {envelope.office_id}-{envelope.number}",
        )
        canvas.drawRightString(PAGE_W - 20 * mm, line, "封入者（　　　）確認者（　　　）")
        line -= SECTION_LINE
        canvas.drawString(25 * mm, line, f"宛名 {envelope.addressee} 様")
        line -= SECTION_LINE
        if envelope.route == "office":
            where = f"{office.name if office else ''}（記号 {envelope.office_id}）経由"
        else:
            where = f"〒{envelope.postal_code}　{envelope.address}"
        canvas.drawString(25 * mm, line, where)
        if envelope.resent_from_labels:
            canvas.drawRightString(
                PAGE_W - 20 * mm, line, f"再送: {' '.join(envelope.resent_from_labels)}"
            )
        for label, item in envelope.documents:
            line -= SECTION_LINE
            canvas.rect(27 * mm, line - 0.5 * mm, 3 * mm, 3 * mm)
            canvas.drawString(
                33 * mm,
                line,
                f"{item.symbol}-{item.number}-{item.branch}　{item.family_name} {item.given_name}　{label}",
            )
        if has_reissue:
            line -= SECTION_LINE
            canvas.drawString(33 * mm, line, reissue_fee_text(reissue_fee))
        line -= SECTION_LINE * 0.6
        canvas.setStrokeGray(0.6)
        canvas.line(20 * mm, line, PAGE_W - 20 * mm, line)
        canvas.setStrokeGray(0)
        line -= SECTION_LINE * 1.4
    if not envelopes:
        canvas.drawString(20 * mm, top, "封筒はありません。")
    _check_sheet_footer(canvas, title)
    canvas.save()
    return buffer.getvalue()


def _check_sheet_footer(canvas: Canvas, title: str) -> None:
    canvas.setFont(FONT, 6)
    canvas.drawString(20 * mm, 8 * mm, f"{title}　{canvas.getPageNumber()}ページ")
    canvas.showPage()
