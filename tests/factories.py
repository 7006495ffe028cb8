from datetime import date

import factory

from insurer.models import Insurer, Office
from members.models import Member, MynaStatus


class InsurerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Insurer
        django_get_or_create = ("insurer_number",)

    insurer_number = "06130090"
    name = "テスト健康保険組合"
    postal_code = "100-0001"
    address = "東京都千代田区千代田1-1"
    phone = "03-0000-0000"


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office
        django_get_or_create = ("symbol",)

    symbol = factory.Sequence(lambda n: str(1001 + n))
    name = factory.Sequence(lambda n: f"テスト商事株式会社 {n}号事業所")
    address = "東京都港区"


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    office = factory.SubFactory(OfficeFactory)
    number = factory.Sequence(lambda n: str(n + 1))
    branch = "00"
    relationship = Member.Relationship.SELF
    family_name = "山田"
    given_name = "太郎"
    family_name_kana = "ヤマダ"
    given_name_kana = "タロウ"
    birth_date = date(1980, 5, 5)
    sex = Member.Sex.MALE
    acquired_on = date(2020, 4, 1)

    @classmethod
    def dependent_of(cls, insured: Member, **kwargs) -> Member:
        household = Member.objects.filter(office_id=insured.office_id, number=insured.number)
        defaults = {
            "office": insured.office,
            "number": insured.number,
            "branch": f"{household.count():02d}",
            "relationship": Member.Relationship.SPOUSE,
            "given_name": "花子",
            "given_name_kana": "ハナコ",
            "sex": Member.Sex.FEMALE,
            "birth_date": date(1982, 2, 28),
        }
        return cls(**{**defaults, **kwargs})


class MynaStatusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MynaStatus

    member = factory.SubFactory(MemberFactory)
    card = MynaStatus.Card.HELD
    registration = MynaStatus.Registration.REGISTERED
    as_of = date(2026, 10, 31)
