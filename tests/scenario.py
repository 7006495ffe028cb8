"""One small office with a record of every kind, built through the services: what the
page crawl and the browser tests open.

1001-2-00  山田 太郎   no card: a certificate from yesterday's scheduled batch (rendered),
                       an address at home (direct mail when 保険者設定 says so)
1001-2-01  山田 花子   his spouse, no card: in the same batch, the same envelope
1001-3-00  佐藤 花子   a usable card, a My Number: the lost-card and reveal cases
1001-4-00  高橋 健     a usable card and a 要配慮者 application waiting for a decision
1001-10-00 鈴木 一郎   no card, joined after that batch: on today's worklist, to be issued
                       from the member page
"""

import importlib
from dataclasses import dataclass
from datetime import date, timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from certificates.issuing import certificates_issue_run
from certificates.models import Application, Certificate, IssueBatch
from certificates.services import application_receive, batch_render
from inquiries.models import Category, Inquiry
from inquiries.services import inquiry_log
from insurer.roles import AUDITOR, CLERK, SUPERVISOR, sync_role_permissions
from insurer.services import nightly_run
from members.demo import demo_my_number
from members.models import Member
from members.services import my_number_register
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory, OfficeFactory

PASSWORD = "browser-pass-2026"
PEOPLE = {
    CLERK: ("clerk", "担当", "一郎"),
    SUPERVISOR: ("supervisor", "管理", "花子"),
    AUDITOR: ("auditor", "監査", "次郎"),
}
SATO_MY_NUMBER = demo_my_number(3)


@dataclass
class Register:
    today: date
    users: dict
    yamada: Member
    yamada_spouse: Member
    sato: Member
    takahashi: Member
    suzuki: Member
    batch: IssueBatch
    certificate: Certificate
    care_needs: Application


def ensure_migration_data() -> None:
    """What migrations write and a transactional test's flush removes: the role groups
    and the inquiry categories."""
    sync_role_permissions()
    categories = importlib.import_module("inquiries.migrations.0002_categories")
    if not Category.objects.exists():
        categories.load_categories(apps, None)


def make_users() -> dict:
    users = {}
    for role, (username, family, given) in PEOPLE.items():
        user = get_user_model().objects.create_user(
            username=username,
            password=PASSWORD,
            is_staff=True,
            last_name=family,
            first_name=given,
        )
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def build_register(today: date) -> Register:
    ensure_migration_data()
    users = make_users()
    InsurerFactory()
    office = OfficeFactory(symbol="1001", name="株式会社サンプル 本社")
    yamada = MemberFactory(
        office=office,
        number="2",
        birth_date=date(1980, 5, 5),
        postal_code="150-0001",
        address="東京都渋谷区神宮前1-1-1",
    )
    spouse = MemberFactory.dependent_of(yamada)
    for person in (yamada, spouse):
        MynaStatusFactory(member=person, card="none", registration="unregistered")
    sato = MemberFactory(
        office=office,
        number="3",
        family_name="佐藤",
        given_name="花子",
        family_name_kana="サトウ",
        given_name_kana="ハナコ",
        sex="2",
        birth_date=date(1975, 8, 1),
    )
    MynaStatusFactory(member=sato, as_of=today)
    my_number_register(
        member=sato, value=SATO_MY_NUMBER, user=users[CLERK], reason="資格取得届に記載"
    )
    takahashi = MemberFactory(
        office=office,
        number="4",
        family_name="高橋",
        given_name="健",
        family_name_kana="タカハシ",
        given_name_kana="ケン",
        birth_date=date(1958, 1, 10),
    )
    MynaStatusFactory(member=takahashi, as_of=today)

    yesterday = today - timedelta(days=1)
    assert nightly_run(run_date=yesterday, trigger="test").status == "succeeded"
    run = certificates_issue_run(run_date=yesterday, trigger="test")
    assert run.status == "succeeded", run.error
    batch = batch_render(batch_id=run.counts["batch"])

    suzuki = MemberFactory(
        office=office,
        number="10",
        family_name="鈴木",
        given_name="一郎",
        family_name_kana="スズキ",
        given_name_kana="イチロウ",
        acquired_on=today,
    )
    MynaStatusFactory(member=suzuki, card="none", registration="unregistered", as_of=today)
    assert nightly_run(run_date=today, trigger="test").status == "succeeded"
    care_needs = application_receive(
        application=Application(
            member=takahashi,
            kind=Application.Kind.CARE_NEEDS,
            received_on=today,
            applicant_type=Application.Applicant.CARER,
            applicant_name="高橋 介助",
            evidence=Application.Evidence.LONG_TERM_CARE,
            review_on=date(today.year + 1, 4, 1),
        ),
        user=users[CLERK],
    )
    inquiry_log(
        inquiry=Inquiry(
            member=yamada,
            category=Category.objects.order_by("order").first(),
            question="資格確認書はいつ届きますか。",
            answer="今月中に事業所経由で届きます。",
            handler=users[CLERK],
        ),
        user=users[CLERK],
    )
    return Register(
        today=today,
        users=users,
        yamada=yamada,
        yamada_spouse=spouse,
        sato=sato,
        takahashi=takahashi,
        suzuki=suzuki,
        batch=batch,
        certificate=Certificate.objects.get(member=yamada),
        care_needs=care_needs,
    )
