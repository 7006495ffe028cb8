"""The worklist, kept by the nightly job in bulk (domain.md §9).

Each flag kind is a queryset of (member, kind, reason) that holds on the date — the rules
of members/rules.py written as SQL conditions. `flags_recompute` puts their union with the
certificate kinds (certificates/flags.py) in a temporary table in one INSERT … SELECT,
computes its difference with the open flags both ways (two hashed anti-joins), then closes
and opens only what changed. Nothing loops over the register in Python. (The nightly run
turns PostgreSQL's JIT off and gives it the memory to hash the register in one go:
insurer/services.nightly_work.)
"""

from collections import Counter
from datetime import date, timedelta

from django.db import connection
from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When

# The worklist also reads the certificates app's records (certificates, applications,
# lost-card cases): plain queries; certificates/flags.py adds the certificate flags.
from certificates.flags import certificate_flag_querysets
from certificates.selectors import (
    has_accepted_lost_card_sql,
    has_care_needs_sql,
    has_open_lost_case_sql,
    holds_certificate_sql,
)
from insurer.models import JobRun
from insurer.selectors import insurer_settings_get

from .models import Flag, Member
from .rules import add_months, born_after_for_under, first_of_month, month_end
from .selectors import members_active_on

DESIRED_TABLE = "nightly_desired_flags"  # one row per (member, kind) that holds, with its reason
CHANGES_TABLE = "nightly_flag_changes"  # flags to open (open_id NULL) and to close


def ecert_past_grace_before(as_of: date) -> date:
    """MY-1 in SQL: an expiry date e is past its grace on `as_of` exactly when
    e < the 1st of the month three months before as_of's month."""
    return add_months(first_of_month(as_of), -3)


def _member_ref(at: str) -> str:
    """The member from rows filtered through `at` ("" → members, "member__" → their
    certificates), for a correlated sub-query."""
    return at.removesuffix("__") or "pk"


def usable_card_condition(as_of: date, at: str = "") -> Q:
    """MY-2 in SQL: held, registered, no deregistration pending, e-certificate within its
    grace (or unknown), no open lost-card case. `at`: the path to the member."""
    status = f"{at}myna_status__"
    return (
        Q(**{f"{status}card": "held", f"{status}registration": "registered"})
        & Q(**{f"{status}dereg_requested_on__isnull": True})
        & (
            Q(**{f"{status}ecert_expires_on__isnull": True})
            | Q(**{f"{status}ecert_expires_on__gte": ecert_past_grace_before(as_of)})
        )
        & ~has_open_lost_case_sql(_member_ref(at))
    )


def awaiting_registration_condition(as_of: date, at: str = "") -> Q:
    """§5 awaiting_registration in SQL (mirrors rules.is_awaiting_registration)."""
    return Q(**{f"{at}is_certificate_requested": True}) & (
        Q(**{f"{at}oqs_registered_on__isnull": True}) | Q(**{f"{at}oqs_registered_on__gt": as_of})
    )


def certificate_need_reason_sql(as_of: date, at: str = "") -> Case:
    """§5 precedence as a CASE over the joined status (mirrors rules.certificate_need_reasons;
    lost_card and care_needs join with the applications of the certificates issue).
    `at`: the path to the member ("" for members, "member__" for certificates)."""
    status, member = f"{at}myna_status__", _member_ref(at)
    return Case(
        When(
            Q(**{f"{status}isnull": True}) | Q(**{f"{status}card": "none"}),
            then=Value("no_card"),
        ),
        When(
            Q(**{f"{status}card": "held", f"{status}registration": "unregistered"}),
            then=Value("not_registered"),
        ),
        When(
            Q(**{f"{status}dereg_requested_on__isnull": False})
            | Q(**{f"{status}registration": "deregistered"}),
            then=Value("deregistered"),
        ),
        When(
            Q(
                **{
                    f"{status}registration": "registered",
                    f"{status}ecert_expires_on__lt": ecert_past_grace_before(as_of),
                }
            ),
            then=Value("ecert_expired"),
        ),
        When(Q(**{f"{status}card": "returned"}), then=Value("card_returned")),
        When(awaiting_registration_condition(as_of, at), then=Value("awaiting_registration")),
        When(has_accepted_lost_card_sql(member), then=Value("lost_card")),
        When(has_care_needs_sql(member), then=Value("care_needs")),
        default=Value(None),
        output_field=CharField(),
    )


def _flag_rows(queryset: QuerySet, kind: str, reason=None) -> QuerySet:
    return (
        queryset.annotate(
            flag_kind=Value(kind, output_field=CharField()),
            flag_reason=reason if reason is not None else Value("", output_field=CharField()),
        )
        .values_list("pk", "flag_kind", "flag_reason")
        .order_by()
    )


def desired_flag_querysets(as_of: date, *, registration_deadline_days: int) -> list[QuerySet]:
    """(member id, kind, reason) rows that hold on `as_of`, one queryset per kind."""
    active = members_active_on(Member.objects.all(), as_of)
    next_month = add_months(first_of_month(as_of), 1)
    needed = (
        active.annotate(need_reason=certificate_need_reason_sql(as_of))
        .filter(need_reason__isnull=False)
        .exclude(holds_certificate_sql(as_of))
    )
    overdue = active.filter(
        notified_on__lt=as_of - timedelta(days=registration_deadline_days)
    ).filter(Q(oqs_registered_on__isnull=True) | Q(oqs_registered_on__gt=as_of))
    turning_70 = active.filter(
        birth_date__gt=born_after_for_under(first_of_month(as_of), 70),
        birth_date__lte=born_after_for_under(next_month, 70),
    )
    turning_75 = active.filter(
        birth_date__gt=born_after_for_under(next_month - timedelta(days=1), 75),
        birth_date__lte=born_after_for_under(month_end(next_month), 75),
    )
    unregistered_name = active.filter(
        has_unregistrable_name=True, registered_family_name="", registered_given_name=""
    )
    return [
        _flag_rows(needed, Flag.Kind.CERTIFICATE_NEEDED, F("need_reason")),
        _flag_rows(unregistered_name, Flag.Kind.NAME_UNREGISTRABLE),
        _flag_rows(overdue, Flag.Kind.REGISTRATION_OVERDUE),
        _flag_rows(turning_70, Flag.Kind.TURNING_70),
        _flag_rows(turning_75, Flag.Kind.TURNING_75),
    ]


def _union_sql(querysets: list[QuerySet]) -> tuple[str, list]:
    parts, params = [], []
    for queryset in querysets:
        sql, query_params = queryset.query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS kind_{len(parts)}")
        params.extend(query_params)
    return " UNION ALL ".join(parts), params


def flags_recompute(*, as_of: date, run: JobRun) -> dict[str, dict[str, int]]:
    """Open the flags that hold on `as_of`, close those that no longer do; idempotent.

    Must run inside a transaction (the nightly job's). Returns counts per kind:reason.
    """
    settings = insurer_settings_get()
    select_sql, params = _union_sql(
        [
            *desired_flag_querysets(
                as_of, registration_deadline_days=settings.registration_deadline_days
            ),
            *certificate_flag_querysets(as_of, renewal_lead_days=settings.renewal_lead_days),
        ]
    )
    flag_table = connection.ops.quote_name(Flag._meta.db_table)
    open_flags = f"SELECT id, member_id, kind, reason FROM {flag_table} WHERE closed_on IS NULL"
    with connection.cursor() as cursor:
        for table in (DESIRED_TABLE, CHANGES_TABLE):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        # One open flag per (member, kind) holds by construction: the desired set is grouped
        # by (member, kind), whatever the queries above returned (a member with two
        # certificates to return is one flag; certificate_needed has one reason by §5).
        cursor.execute(
            f"CREATE TEMPORARY TABLE {DESIRED_TABLE} "
            "(member_id bigint, kind varchar(24), reason varchar(24))"
        )
        cursor.execute(
            f"""WITH computed (member_id, kind, reason) AS ({select_sql})
            INSERT INTO {DESIRED_TABLE} (member_id, kind, reason)
            SELECT member_id, kind, MIN(reason) FROM computed GROUP BY member_id, kind""",
            params,
        )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {DESIRED_TABLE}")
        # The difference with the open flags, both ways, before anything is written: each
        # statement reads one table and writes another (never the one it reads), so the
        # planner hashes both sides, whatever it believes about the flags table's size.
        # A night that changes nothing writes nothing.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {CHANGES_TABLE} "
            "(member_id bigint, kind varchar(24), reason varchar(24), open_id bigint)"
        )
        cursor.execute(
            f"""INSERT INTO {CHANGES_TABLE} (member_id, kind, reason, open_id)
            SELECT d.member_id, d.kind, d.reason, NULL FROM {DESIRED_TABLE} d
            WHERE NOT EXISTS (SELECT 1 FROM ({open_flags}) f WHERE f.member_id = d.member_id
                AND f.kind = d.kind AND f.reason = d.reason)"""
        )
        cursor.execute(
            f"""INSERT INTO {CHANGES_TABLE} (member_id, kind, reason, open_id)
            SELECT f.member_id, f.kind, f.reason, f.id FROM ({open_flags}) f
            WHERE NOT EXISTS (SELECT 1 FROM {DESIRED_TABLE} d WHERE d.member_id = f.member_id
                AND d.kind = f.kind AND d.reason = f.reason)"""
        )
        cursor.execute(
            f"""UPDATE {flag_table} SET closed_on = %s, closed_by_id = %s WHERE id IN (
                SELECT open_id FROM {CHANGES_TABLE} WHERE open_id IS NOT NULL)""",
            [as_of, run.pk],
        )
        cursor.execute(
            f"""INSERT INTO {flag_table} (member_id, kind, reason, opened_on, opened_by_id)
            SELECT member_id, kind, reason, %s, %s FROM {CHANGES_TABLE} WHERE open_id IS NULL""",
            [as_of, run.pk],
        )
        for table in (DESIRED_TABLE, CHANGES_TABLE):
            cursor.execute(f"DROP TABLE {table}")
    return {
        "opened": _count(Flag.objects.filter(opened_by=run)),
        "closed": _count(Flag.objects.filter(closed_by=run)),
    }


def _count(queryset: QuerySet[Flag]) -> dict[str, int]:
    counts: Counter = Counter()
    rows = queryset.values_list("kind", "reason").annotate(number=Count("pk")).order_by()
    for kind, reason, number in rows:
        counts[f"{kind}:{reason}" if reason else kind] += number
    return dict(sorted(counts.items()))


def flag_label(key: str) -> str:
    """A count key (`certificate_needed:no_card`) in Japanese:
    資格確認書が必要（マイナンバーカード未取得）."""
    kind, _, reason = key.partition(":")
    label = Flag.Kind(kind).label
    return f"{label}（{Flag.Reason(reason).label}）" if reason else label


def open_flags_for(*, member: Member) -> QuerySet[Flag]:
    return Flag.objects.filter(member=member, closed_on__isnull=True).order_by("kind")
