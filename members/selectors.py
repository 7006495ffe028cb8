"""Named reads of the member register for screens and jobs."""

import re
import unicodedata
from datetime import date

from django.db.models import (
    DateField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat, LPad, NullIf

from .models import NUMERIC_KEY_ORDER, Member, MynaStatus, MyNumber
from .rules import (
    MYNA_STATES,
    CardStatus,
    Person,
    born_after_for_under,
    has_usable_card,
    is_ecert_past_grace,
    looks_like_kana,
    myna_state,
    normalize_kana,
    parse_name_substitutions,
    registered_name_proposal,
)

_KEY_SEPARATORS = re.compile(r"[\s\-‐－―ー/・]+")


def member_search(queryset: QuerySet[Member], term: str) -> QuerySet[Member]:
    """What a clerk types into the search box, routed to an indexed look-up.

    - digits, optionally separated (``1001-12-01``, ``1001 12``): exact 記号(・番号(・枝番))
    - kana in any script or width: prefix of the name in kana
    - anything else: prefix of the name in kanji (spaces ignored)
    """
    term = (term or "").strip()
    route = _search_route(term)
    if route is None:
        return queryset
    if route == "key":
        parts = _key_parts(term)
        fields = ("office_id", "number", "branch")
        return queryset.filter(**dict(zip(fields, parts, strict=False)))
    if route == "kana":
        return queryset.filter(kana_search__startswith=normalize_kana(term))
    return queryset.filter(name_search__startswith="".join(term.split()))


def _key_parts(term: str) -> list[str]:
    ascii_term = unicodedata.normalize("NFKC", term)
    return [part for part in _KEY_SEPARATORS.split(ascii_term) if part]


def _search_route(term: str) -> str | None:
    """ "key", "kana", "name", or None for an empty term: which index member_search uses."""
    term = (term or "").strip()
    if not term:
        return None
    parts = _key_parts(term)
    if parts and len(parts) <= 3 and all(part.isascii() and part.isdigit() for part in parts):
        return "key"
    return "kana" if looks_like_kana(term) else "name"


# A name search matching at most this many members is read off the name's index and sorted
# (a few milliseconds); more matches are read in 記号番号 order off member_numeric_key,
# which meets a page of them within a few thousand rows.
SPARSE_MATCHES = 2_000
# NUMERIC_KEY_ORDER, the same order, through an expression member_numeric_key does not
# index: PostgreSQL then finds the matches first and sorts them.
NUMERIC_KEY_ORDER_AFTER_MATCH = (
    LPad(Concat("office_id", Value("")), 8, Value("0")),
    *NUMERIC_KEY_ORDER[1:],
)


def member_search_in_key_order(queryset: QuerySet[Member], term: str) -> QuerySet[Member]:
    """member_search for the member list and autocomplete, in the register's 記号番号 order.

    With that order PostgreSQL walks member_numeric_key and filters by the name: quick
    when the name is common, but when few members match (a full family name and the start
    of a given name) it walks most of a million rows, 0.2–0.4 s measured at 1,000,000
    (issue 11). So a kana or name search that matches at most SPARSE_MATCHES members (one
    capped count off the name's index) is ordered through NUMERIC_KEY_ORDER_AFTER_MATCH,
    which the planner can only serve by sorting the matches. Another order chosen by the
    clerk (a column header) is left as it is.
    """
    found = member_search(queryset, term)
    if _search_route(term) not in ("kana", "name"):
        return found
    ordering = found.query.order_by  # the admin's list repeats the default order
    if not ordering or any(part not in NUMERIC_KEY_ORDER for part in ordering):
        return found
    if found.order_by()[: SPARSE_MATCHES + 1].count() > SPARSE_MATCHES:
        return found
    return found.order_by(*NUMERIC_KEY_ORDER_AFTER_MATCH)


def member_household(*, member: Member) -> QuerySet[Member]:
    """Everyone with the same 記号・番号, the insured person first."""
    return (
        Member.objects.filter(office_id=member.office_id, number=member.number)
        .select_related("myna_status")
        .order_by("branch")
    )


def member_insured_of(*, member: Member) -> Member | None:
    """A dependent's insured person (本人); None for an insured person themself."""
    if member.is_insured:
        return None
    return Member.objects.filter(
        office_id=member.office_id, number=member.number, relationship=Member.Relationship.SELF
    ).first()


class Anniversary(Func):
    """AGE-0 in SQL: the same month and day `years` later, 29 February becoming 1 March in
    a year without one — exactly `members.rules.anniversary`, so a condition on it can
    stand in for the rule (PostgreSQL's `+ interval` alone would give 28 February)."""

    output_field = DateField()

    def __init__(self, expression, years: int):
        self.years = int(years)
        super().__init__(expression)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        later = f"((%(d)s) + make_interval(years => {self.years}))::date"
        template = (
            "(CASE WHEN EXTRACT(MONTH FROM (%(d)s)) = 2 AND EXTRACT(DAY FROM (%(d)s)) = 29 "
            f"AND EXTRACT(DAY FROM {later}) = 28 THEN {later} + 1 ELSE {later} END)"
        )
        return template % {"d": sql}, list(params) * template.count("%(d)s")

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite moves 29 February of a year without one to 1 March, as AGE-0 does.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '+{self.years} years')", params


def printed_name_sql(part: str, prefix: str = "") -> Coalesce:
    """Member.printed_family_name / printed_given_name in SQL (`part`: family or given)."""
    return Coalesce(
        NullIf(F(f"{prefix}registered_{part}_name"), Value("")), F(f"{prefix}{part}_name")
    )


def insured_pk_sql() -> Subquery:
    """The id of the insured person (本人) of the household of the member in the outer
    query — one index probe per row (member_one_self_per_household), for annotating a
    set of members whose insured persons are then read in one query."""
    return Subquery(
        Member.objects.filter(
            office_id=OuterRef("office_id"),
            number=OuterRef("number"),
            relationship=Member.Relationship.SELF,
        )
        .order_by("pk")
        .values("pk")[:1]
    )


def active_on_condition(day: date, at: str = "") -> Q:
    """MEM-1 in SQL: acquired, not lost, under 75, and (for dependents) the insured active.

    `at` is the path to the member from the rows filtered: "" for members, "member__" for
    their certificates (the condition then joins, rather than listing every active id)."""
    born_after = born_after_for_under(day, 75)
    own = (
        Q(**{f"{at}acquired_on__lte": day})
        & (Q(**{f"{at}lost_on__isnull": True}) | Q(**{f"{at}lost_on__gt": day}))
        & Q(**{f"{at}birth_date__gt": born_after})
    )
    insured_inactive = Member.objects.filter(
        office_id=OuterRef(f"{at}office_id"),
        number=OuterRef(f"{at}number"),
        relationship=Member.Relationship.SELF,
    ).filter(Q(lost_on__lte=day) | Q(birth_date__lte=born_after))
    return own & (Q(**{f"{at}relationship": Member.Relationship.SELF}) | ~Exists(insured_inactive))


def members_active_on(queryset: QuerySet[Member], day: date) -> QuerySet[Member]:
    """MEM-1 in SQL (`active_on_condition`)."""
    return queryset.filter(active_on_condition(day))


def members_inactive_on(queryset: QuerySet[Member], day: date) -> QuerySet[Member]:
    return queryset.exclude(pk__in=members_active_on(Member.objects.all(), day).values("pk"))


# The admin's status filter: one Q per state, in the precedence of rules.myna_state.
_DEREG = Q(myna_status__dereg_requested_on__isnull=False)
_RETURNED = Q(myna_status__card=MynaStatus.Card.RETURNED)
MYNA_STATE_FILTERS: dict[str, Q] = {
    "no_data": Q(myna_status__isnull=True),
    "returned": _RETURNED,
    "dereg_requested": _DEREG & ~_RETURNED,
    "deregistered": Q(myna_status__registration=MynaStatus.Registration.DEREGISTERED)
    & ~_DEREG
    & ~_RETURNED,
    "no_card": Q(myna_status__card=MynaStatus.Card.NONE)
    & ~_DEREG
    & ~Q(myna_status__registration=MynaStatus.Registration.DEREGISTERED),
    "unregistered": Q(
        myna_status__card=MynaStatus.Card.HELD,
        myna_status__registration=MynaStatus.Registration.UNREGISTERED,
    )
    & ~_DEREG,
    "registered": Q(
        myna_status__card=MynaStatus.Card.HELD,
        myna_status__registration=MynaStatus.Registration.REGISTERED,
    )
    & ~_DEREG,
}


def my_number_in_use(*, value: str, member: Member | None) -> bool:
    """Whether a (valid) My Number is already registered for someone other than `member`."""
    from . import vault
    from .rules import normalize_my_number

    digest = vault.lookup_hash(normalize_my_number(value))
    others = MyNumber.objects.filter(lookup_hash=digest)
    if member is not None and member.pk:
        others = others.exclude(member=member)
    return others.exists()


def my_number_masked(*, member: Member) -> str | None:
    record = MyNumber.objects.filter(member=member).only("last4").first()
    return record.masked if record else None


def member_facts(member: Member) -> Person:
    """The rules' view of a member (members.rules.Person)."""
    return Person(
        birth_date=member.birth_date,
        is_insured=member.is_insured,
        acquired_on=member.acquired_on,
        lost_on=member.lost_on,
        standard_monthly_remuneration=member.standard_monthly_remuneration,
        has_income_reduction=member.has_income_reduction,
        notified_on=member.notified_on,
        oqs_registered_on=member.oqs_registered_on,
        voluntary_until=member.voluntary_until,
        residence_expires_on=member.residence_expires_on,
        is_certificate_requested=member.is_certificate_requested,
    )


def card_status_facts(status: MynaStatus | None) -> CardStatus | None:
    """The rules' view of a status row (members.rules.CardStatus); None without data."""
    if status is None:
        return None
    return CardStatus(
        card=status.card,
        registration=status.registration,
        ecert_expires_on=status.ecert_expires_on,
        is_dereg_requested=status.is_dereg_requested,
    )


def registered_name_proposal_for(*, member: Member, substitutions_text: str) -> tuple[str, str]:
    """ID-4: the registered name (氏, 名) to propose to the clerk, from the insurer's
    substitution table (保険者設定), else the kana, part by part."""
    table = parse_name_substitutions(substitutions_text)
    return (
        registered_name_proposal(
            name=member.family_name, kana=member.family_name_kana, substitutions=table
        ),
        registered_name_proposal(
            name=member.given_name, kana=member.given_name_kana, substitutions=table
        ),
    )


def member_ids_with_open_lost_case(ids: list[int]) -> set[int]:
    """Of these members, those with an open lost-card case (one query, through the
    reverse relation: the register does not import the certificates app)."""
    return set(
        Member.objects.filter(pk__in=ids, lost_card_cases__status="open").values_list(
            "pk", flat=True
        )
    )


def myna_state_label(
    status: MynaStatus | None, as_of: date, *, has_open_lost_case: bool
) -> tuple[str, bool]:
    """The member page's words for the マイナ保険証, with MY-2's answer: (label, usable).

    A registered card is not usable while a lost-card case is open or the e-certificate
    is past its grace period, and the label says so instead of 登録済.
    """
    state = myna_state(
        card=status.card if status else None,
        registration=status.registration if status else None,
        is_dereg_requested=bool(status and status.is_dereg_requested),
    )
    usable = has_usable_card(
        card_status_facts(status), as_of, has_open_lost_case=has_open_lost_case
    )
    label = MYNA_STATES[state]
    if usable:
        return f"{label}（利用できる）", True
    if has_open_lost_case:
        return f"利用できない（カード紛失の対応中・{label}）", False
    if state == "registered" and is_ecert_past_grace(status.ecert_expires_on, as_of):
        return f"利用できない（電子証明書の期限切れ・{label}）", False
    return f"{label}（利用できない）", False


def member_records(*, member: Member) -> dict[str, list]:
    """What the member page lists besides the register: certificates, lost-card cases,
    applications and inquiries (newest first, ten of each), through reverse relations."""
    return {
        "certificates": list(member.certificates.order_by("-valid_from", "-pk")[:10]),
        "lost_cases": list(member.lost_card_cases.order_by("-reported_on", "-pk")[:10]),
        "applications": list(member.applications.order_by("-received_on", "-pk")[:10]),
        "inquiries": list(
            member.inquiries.select_related("category", "handler").order_by("-received_at")[:10]
        ),
    }
