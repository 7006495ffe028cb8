"""A register of several offices of different sizes, issued into one batch whose render
is left to the test (in this process, or on real workers)."""

import io
import re
from collections import Counter
from datetime import date

from pypdf import PdfReader

from certificates.issuing import certificates_issue_run
from certificates.models import IssueBatch
from insurer.services import nightly_run
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory

DAY = date(2026, 11, 21)
KANJI = "一二三四五六七八九十"


def given_name(index: int) -> str:
    """Distinct printed names (two kanji for every index below 100)."""
    return "名" + KANJI[index // 10 % 10] + KANJI[index % 10]


def multi_office_register(households: dict[str, int]) -> list[str]:
    """`households` per office symbol; every second household has a dependant too. All
    without a card, so each person gets a certificate. Returns the printed names."""
    InsurerFactory()
    names, index = [], 0
    for symbol, count in households.items():
        office = OfficeFactory(symbol=symbol, name=f"部分商事 {symbol}")
        for number in range(1, count + 1):
            insured = MemberFactory(office=office, number=str(number), given_name=given_name(index))
            people = [insured]
            index += 1
            if number % 2 == 0:
                people.append(MemberFactory.dependent_of(insured, given_name=given_name(index)))
                index += 1
            for member in people:
                MynaStatusFactory(member=member, card="none", registration="unregistered")
                names.append(f"{member.family_name} {member.given_name}")
    return names


def issue_batch(monkeypatch) -> IssueBatch:
    """The scheduled batch of DAY, issued; its render not started (the test starts it)."""
    monkeypatch.setattr("certificates.issuing._enqueue_render", lambda batch_id: None)
    nightly_run(run_date=DAY, trigger="test")
    run = certificates_issue_run(run_date=DAY, trigger="test")
    return IssueBatch.objects.get(pk=run.counts["batch"])


NAME = re.compile(r"山田 名[一二三四五六七八九十]{2}")
INSURED_ON_DEPENDANT_CARD = re.compile(r"被保険者氏名\s*(山田 名[一二三四五六七八九十]{2})")


def printed_names(content: bytes) -> Counter:
    """How often each holder's name is printed as a card's 氏名 in a certificates PDF (a
    dependant's card also prints the insured person's name: not counted)."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return Counter(NAME.findall(text)) - Counter(INSURED_ON_DEPENDANT_CARD.findall(text))
