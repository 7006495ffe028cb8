"""A realistic demo register, written in bulk with history (seed_demo and the benchmarks).

Households of an insured person with spouse, children and sometimes a parent; ages 0–74
with people about to turn 70 and 75, 1st-of-month and 29 February births; a realistic mix
of マイナ保険証 statuses; a fake My Number for most people.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction

from insurer.bulk import bulk_insert_with_history
from insurer.models import Insurer, Office

from .models import Member, MynaStatus, MyNumber
from .rules import my_number_check_digit
from .vault import EncryptionKeys

REASON = "デモデータ作成"

FAMILY_NAMES = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
]
MALE_NAMES = [
    ("太郎", "タロウ"),
    ("一郎", "イチロウ"),
    ("健太", "ケンタ"),
    ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"),
    ("拓也", "タクヤ"),
    ("直樹", "ナオキ"),
    ("浩", "ヒロシ"),
    ("誠", "マコト"),
    ("蓮", "レン"),
    ("湊", "ミナト"),
    ("悠真", "ユウマ"),
    ("隆", "タカシ"),
    ("茂", "シゲル"),
    ("博之", "ヒロユキ"),
    ("和夫", "カズオ"),
]
FEMALE_NAMES = [
    ("花子", "ハナコ"),
    ("恵子", "ケイコ"),
    ("由美", "ユミ"),
    ("美咲", "ミサキ"),
    ("陽子", "ヨウコ"),
    ("裕子", "ユウコ"),
    ("真由美", "マユミ"),
    ("結衣", "ユイ"),
    ("陽菜", "ヒナ"),
    ("葵", "アオイ"),
    ("さくら", "サクラ"),
    ("凛", "リン"),
    ("幸子", "サチコ"),
    ("和子", "カズコ"),
    ("明美", "アケミ"),
    ("智子", "トモコ"),
]
COMPANIES = ["日本", "東都", "関西", "北海", "中部", "九州", "瀬戸内", "みなと", "さくら", "青葉"]
INDUSTRIES = ["工業", "商事", "電機", "物産", "運輸", "建設", "製薬", "食品", "化学", "システム"]
PLACES = [
    "東京都千代田区",
    "東京都港区",
    "大阪府大阪市北区",
    "愛知県名古屋市中区",
    "福岡県福岡市博多区",
    "北海道札幌市中央区",
    "神奈川県横浜市西区",
    "宮城県仙台市青葉区",
]


@dataclass
class DemoResult:
    offices: int
    members: int
    statuses: int
    my_numbers: int


def _birth_date(rng: random.Random, today: date, age_min: int, age_max: int) -> date:
    start = date(today.year - age_max - 1, today.month, 1)
    span = (date(today.year - age_min, today.month, 1) - start).days
    return start + timedelta(days=rng.randrange(max(span, 1)))


def _edge_birth_date(rng: random.Random, today: date) -> date:
    """People at the edges the rules care about."""
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    kind = rng.randrange(5)
    if kind == 0:  # turns 70 next month
        return next_month.replace(year=next_month.year - 70, day=rng.randint(1, 28))
    if kind == 1:  # turns 75 next month
        return next_month.replace(year=next_month.year - 75, day=rng.randint(1, 28))
    if kind == 2:  # 29 February
        year = rng.choice([1952, 1956, 1960, 1972, 1988, 2000, 2016, 2020])
        return date(year, 2, 29)
    if kind == 3:  # born on the 1st, around 70
        return date(today.year - 70, rng.randint(1, 12), 1)
    return date(today.year - 6, 4, rng.choice([1, 2]))  # around the preschool boundary


def demo_my_number(serial: int) -> str:
    """Obviously fake (leading 0000) yet valid: unique per serial, with the check digit."""
    first = f"0000{serial:07d}"
    return first + str(my_number_check_digit(first))


def _status(rng: random.Random, member_id: int, today: date) -> MynaStatus | None:
    roll = rng.random()
    as_of = today.replace(day=1) - timedelta(days=1)  # end of last month
    if roll < 0.05:
        return None
    status = MynaStatus(member_id=member_id, as_of=as_of, card="held", registration="registered")
    if roll < 0.20:
        status.card, status.registration = "none", "unregistered"
    elif roll < 0.30:
        status.registration = "unregistered"
    elif roll < 0.32:
        status.registration = "deregistered"
    elif roll < 0.33:
        status.card, status.registration = "returned", "unregistered"
    elif roll < 0.34:
        status.dereg_requested_on = today - timedelta(days=rng.randint(1, 40))
    if status.registration == "registered":
        ecert = rng.random()
        if ecert < 0.03:  # past the grace period
            status.ecert_expires_on = today - timedelta(days=rng.randint(130, 400))
        elif ecert < 0.06:  # inside the grace period
            status.ecert_expires_on = today - timedelta(days=rng.randint(1, 60))
        elif ecert < 0.9:
            status.ecert_expires_on = today + timedelta(days=rng.randint(1, 1800))
    return status


def _household(rng: random.Random, office: Office, number: int, today: date) -> list[Member]:
    family, family_kana = rng.choice(FAMILY_NAMES)
    edge = rng.random() < 0.04
    insured_birth = _edge_birth_date(rng, today) if edge else _birth_date(rng, today, 20, 74)
    if not 18 <= today.year - insured_birth.year <= 74:
        insured_birth = _birth_date(rng, today, 20, 74)
    sex = rng.choice("12")
    acquired = max(
        insured_birth.replace(year=insured_birth.year + 18, day=1), date(2000, 4, 1)
    ) + timedelta(days=rng.randrange(0, 3000))
    acquired = min(acquired, today - timedelta(days=rng.randrange(1, 60)))
    common = {
        "office": office,
        "number": str(number),
        "family_name": family,
        "family_name_kana": family_kana,
        "postal_code": f"{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}",
        "address": f"{rng.choice(PLACES)}{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
    }
    lost = None
    if rng.random() < 0.03:
        lost = today - timedelta(days=rng.randint(1, 300))
        lost = max(lost, acquired + timedelta(days=1))
    insured = Member(
        branch="00",
        relationship="self",
        birth_date=insured_birth,
        sex=sex,
        given_name=None,
        given_name_kana=None,
        acquired_on=acquired,
        lost_on=lost,
        loss_reason="retired" if lost else "",
        standard_monthly_remuneration=rng.choice(
            [180_000, 240_000, 260_000, 280_000, 300_000, 410_000, 620_000]
        ),
        notified_on=acquired + timedelta(days=rng.randint(0, 5)),
        oqs_registered_on=(acquired + timedelta(days=rng.randint(1, 9)))
        if rng.random() < 0.97
        else None,
        **common,
    )
    insured.given_name, insured.given_name_kana = rng.choice(
        MALE_NAMES if sex == "1" else FEMALE_NAMES
    )
    people = [insured]
    age = today.year - insured_birth.year

    def dependent(relationship: str, birth: date, person_sex: str) -> None:
        given, given_kana = rng.choice(MALE_NAMES if person_sex == "1" else FEMALE_NAMES)
        if lost is not None and lost <= max(acquired, birth):
            return  # born after the household left: never a member
        people.append(
            Member(
                branch=f"{len(people):02d}",
                relationship=relationship,
                birth_date=birth,
                sex=person_sex,
                given_name=given,
                given_name_kana=given_kana,
                acquired_on=max(acquired, birth),
                lost_on=lost,
                loss_reason="insured_lost" if lost else "",
                **common,
            )
        )

    if age >= 23 and rng.random() < 0.6:
        spouse_birth = insured_birth + timedelta(days=rng.randint(-5 * 365, 5 * 365))
        if today.year - spouse_birth.year < 75:
            dependent("spouse", spouse_birth, "2" if sex == "1" else "1")
    if 22 <= age <= 60:
        for _ in range(rng.choice([0, 0, 1, 1, 2, 2, 3])):
            child_age_max = min(age - 20, 22)
            dependent("child", _birth_date(rng, today, 0, max(child_age_max, 0)), rng.choice("12"))
    if 35 <= age <= 55 and rng.random() < 0.05:
        dependent("parent", _birth_date(rng, today, 62, 74), rng.choice("12"))
    return people


def seed_demo(
    *,
    members: int,
    today: date,
    seed: int = 2026,
    batch_size: int = 5000,
    with_my_numbers: bool = True,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Write about `members` people (whole households), with history, in batches."""
    rng = random.Random(seed)
    keys = EncryptionKeys() if with_my_numbers else None
    Insurer.objects.get_or_create(
        insurer_number="06130090",
        defaults={
            "name": "デモ健康保険組合",
            "postal_code": "100-0001",
            "address": "東京都千代田区千代田1-1",
            "phone": "03-0000-0000",
        },
    )
    office_count = max(3, members // 2000)
    offices = []
    existing = set(Office.objects.values_list("symbol", flat=True))
    for index in range(office_count):
        symbol = str(1001 + index)
        if symbol in existing:
            continue
        offices.append(
            Office(
                symbol=symbol,
                name=f"{rng.choice(COMPANIES)}{rng.choice(INDUSTRIES)}株式会社 {index + 1}号事業所",
                postal_code=f"{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}",
                address=rng.choice(PLACES),
                phone=f"03-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            )
        )
    bulk_insert_with_history(offices, Office, reason=REASON)
    office_list = list(Office.objects.order_by("symbol")[:office_count])
    next_number = {office.symbol: 1 for office in office_list}
    for symbol, number in Member.objects.filter(relationship="self").values_list(
        "office_id", "number"
    ):
        if symbol in next_number:
            next_number[symbol] = max(next_number[symbol], int(number) + 1)
    serial = MyNumber.objects.count() + 1

    written = statuses = numbers = 0
    while written < members:
        batch: list[Member] = []
        while len(batch) < batch_size and written + len(batch) < members:
            office = office_list[rng.randrange(len(office_list))]
            batch.extend(_household(rng, office, next_number[office.symbol], today))
            next_number[office.symbol] += 1
        with transaction.atomic():
            created = bulk_insert_with_history(batch, Member, reason=REASON)
            status_rows = [s for s in (_status(rng, m.pk, today) for m in created) if s]
            bulk_insert_with_history(status_rows, MynaStatus, reason=REASON)
            vault_rows = []
            if keys is not None:
                for member in created:
                    if rng.random() < 0.97:
                        plain = demo_my_number(serial)
                        serial += 1
                        vault_rows.append(
                            MyNumber(
                                member_id=member.pk,
                                ciphertext=keys.encrypt(plain),
                                lookup_hash=keys.lookup_hash(plain),
                                last4=plain[-4:],
                            )
                        )
                bulk_insert_with_history(vault_rows, MyNumber, reason=REASON)
        written += len(created)
        statuses += len(status_rows)
        numbers += len(vault_rows)
        if progress:
            progress(written)
    return DemoResult(offices=len(offices), members=written, statuses=statuses, my_numbers=numbers)
