"""Benchmark: certificate PDFs per second, against a bare reportlab baseline.

    .venv/bin/python bench/pdf.py --certificates 10000

Renders N certificates (varied names, dependents, elderly cost shares, many offices)
into one batch PDF, in one process (one core). The baseline, in the same process, draws
the same number of card frames with one line of text each in the same embedded font:
the floor of what reportlab costs per card. The last line holds the figures.
"""

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def certificates(count: int) -> list:
    from certificates.models import Certificate
    from members.demo import FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES

    cards = []
    for index in range(count):
        family, family_kana = FAMILY_NAMES[index % len(FAMILY_NAMES)]
        given, given_kana = (MALE_NAMES if index % 2 else FEMALE_NAMES)[index % 16]
        dependent = index % 3 == 0
        elderly = index % 7 == 0
        cards.append(
            Certificate(
                is_dependent=dependent,
                family_name=family,
                given_name=given,
                family_name_kana=family_kana,
                given_name_kana=given_kana,
                sex="1" if index % 2 else "2",
                birth_date=date(1954, 1, 1) + timedelta(days=index % 20000)
                if elderly
                else date(1970, 1, 1) + timedelta(days=index % 15000),
                acquired_on=date(2010, 4, 1),
                symbol=str(1001 + index // 40),
                number=str(index // 4 + 1),
                branch=f"{index % 4:02d}",
                relationship="spouse" if dependent else "self",
                insurer_number="06130090",
                insurer_name="デモ健康保険組合",
                insurer_address="東京都千代田区千代田1-1",
                insured_name="山田 太郎" if dependent else "",
                copay=3 if elderly else None,
                copay_effective_on=date(2026, 11, 21) if elderly else None,
                office_name=f"サンプル商事 {index // 40}号事業所",
                issued_on=date(2026, 11, 21),
                valid_from=date(2026, 11, 21),
                valid_until=date(2031, 10, 31),
            )
        )
    return cards


def baseline(count: int) -> float:
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    from certificates.pdf import CARD_H, CARD_W, PER_SHEET, _font

    font = _font()
    started = time.perf_counter()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1, initialFontName=font)
    for index in range(count):
        slot = index % PER_SHEET
        x, y = 60 + (slot % 2) * (CARD_W + 10), 40 + (slot // 2) * (CARD_H + 10)
        canvas.roundRect(x, y, CARD_W, CARD_H, 5)
        canvas.setFont(font, 9)
        canvas.drawString(x + 10, y + CARD_H - 20, "健康保険被保険者資格確認書 山田 太郎")
        if slot == PER_SHEET - 1:
            canvas.showPage()
    canvas.save()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    import django

    django.setup()
    from certificates.pdf import render_certificates

    cards = certificates(args.certificates)
    base_seconds = baseline(args.certificates)
    started = time.perf_counter()
    content = render_certificates(cards, title="bench")
    seconds = time.perf_counter() - started
    print(f"{len(content) / 1e6:.1f} MB PDF, {args.certificates // 10 + 1}+ pages")
    print(
        f"pdf certificates={args.certificates} seconds={seconds:.2f} "
        f"certificates_per_second={args.certificates / seconds:.0f} "
        f"baseline_seconds={base_seconds:.2f} ratio={seconds / base_seconds:.2f}"
    )


if __name__ == "__main__":
    main()
