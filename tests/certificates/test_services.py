"""domain.md §5–§8 end to end: flags → certificates → returns, through the services."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from certificates.issuing import certificates_issue_run
from certificates.models import Application, Certificate, IssueBatch, LostCardCase, Notice
from certificates.services import (
    application_decide,
    care_needs_end,
    certificate_issue,
    certificate_record_return,
    certificate_void,
    lost_card_case_close,
)
from insurer.services import nightly_run
from members.models import Flag, MynaStatus
from tests.factories import InsurerFactory, MemberFactory, MynaStatusFactory

D = date


def night_and_issue(day: date) -> IssueBatch | None:
    assert nightly_run(run_date=day, trigger="test", force=True).status in ("succeeded", "rerun")
    run = certificates_issue_run(run_date=day, trigger="test")
    assert run.status == "succeeded", run.error
    return IssueBatch.objects.filter(kind="scheduled", issued_on=day).first()


def open_flags(member) -> set[tuple[str, str]]:
    return set(
        Flag.objects.filter(member=member, closed_on__isnull=True).values_list("kind", "reason")
    )


@pytest.fixture
def insurer(db):
    return InsurerFactory()


@pytest.fixture
def no_card(insurer, office):
    member = MemberFactory(office=office, number="1", birth_date=D(1990, 5, 5))
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    return member


@pytest.mark.django_db
def test_a_flag_becomes_a_certificate_in_a_batch_and_the_flag_closes(no_card):
    batch = night_and_issue(D(2026, 4, 15))
    certificate = Certificate.objects.get(member=no_card)
    assert certificate.batch == batch
    assert (certificate.reason, certificate.valid_from, certificate.valid_until) == (
        "no_card",
        D(2026, 4, 15),
        D(2031, 3, 31),
    )
    assert (certificate.title, certificate.symbol, certificate.insurer_number) == (
        "健康保険被保険者資格確認書",
        "1001",
        "06130090",
    )
    assert certificate.copay is None  # not in elderly status
    assert open_flags(no_card) == set()
    assert Flag.objects.get(member=no_card).closed_on == D(2026, 4, 15)
    assert (
        certificate.history.get().history_change_reason
        == "資格確認書を交付（マイナンバーカード未取得）"
    )
    # the next night: covered, so no flag comes back
    nightly_run(run_date=D(2026, 4, 16), trigger="test")
    assert open_flags(no_card) == set()


@pytest.mark.django_db
def test_issuing_twice_for_the_same_date_issues_nothing_the_second_time(no_card):
    night_and_issue(D(2026, 4, 15))
    again = certificates_issue_run(run_date=D(2026, 4, 15), trigger="test")
    assert again.status == "skipped"
    forced = certificates_issue_run(run_date=D(2026, 4, 15), trigger="test", force=True)
    assert forced.status == "rerun" and forced.counts["issued"] == {}
    assert Certificate.objects.count() == 1
    assert IssueBatch.objects.filter(kind="scheduled").count() == 1


@pytest.mark.django_db
def test_renewal_has_no_gap_and_no_overlap(no_card, settings):
    first = certificate_issue(member=no_card, reason="no_card", issued_on=D(2026, 4, 15))
    assert first.valid_until == D(2031, 3, 31)
    day = D(2031, 1, 31)  # 59 days before the end: inside the 60-day lead
    nightly_run(run_date=day, trigger="test")
    assert open_flags(no_card) == {("renewal_due", "")}
    night_and_issue(day)
    renewal = Certificate.objects.exclude(pk=first.pk).get()
    assert renewal.renews == first
    assert renewal.valid_from == D(2031, 4, 1)
    assert (renewal.valid_from - first.valid_until).days == 1  # no gap, no overlap
    assert renewal.valid_until == D(2036, 3, 31)
    nightly_run(run_date=D(2031, 2, 1), trigger="test")
    assert open_flags(no_card) == set()  # the successor exists


@pytest.mark.django_db
def test_no_renewal_once_the_member_has_a_usable_card_and_then_a_return_is_requested(no_card):
    certificate_issue(member=no_card, reason="no_card", issued_on=D(2026, 4, 15))
    status = MynaStatus.objects.get(member=no_card)
    status.card, status.registration, status.as_of = "held", "registered", D(2026, 5, 31)
    status.save()
    nightly_run(run_date=D(2026, 6, 5), trigger="test")
    assert open_flags(no_card) == {("return_requested", "")}  # RT-1: registered since
    certificate = Certificate.objects.get()
    certificate_record_return(certificate=certificate, returned_on=D(2026, 6, 10), user=None)
    nightly_run(run_date=D(2026, 6, 11), trigger="test")
    assert open_flags(no_card) == set()
    assert Certificate.objects.get().status == "returned"
    with pytest.raises(ValidationError):
        certificate_void(certificate=certificate, voided_on=D(2026, 6, 12), user=None)


@pytest.mark.django_db
def test_reissue_at_a_cost_share_change(insurer, office):
    # elderly from 2025-06-01, 標準報酬月額 300,000 → 3割 printed
    member = MemberFactory(
        office=office, number="2", birth_date=D(1955, 5, 20), standard_monthly_remuneration=300_000
    )
    MynaStatusFactory(member=member, card="none", registration="unregistered")
    night_and_issue(D(2026, 4, 1))
    old = Certificate.objects.get()
    assert (old.copay, old.copay_effective_on) == (3, D(2026, 4, 1))
    assert old.valid_until == D(2030, 5, 19)  # VAL-b: the day before the 75th birthday
    member.standard_monthly_remuneration = 260_000  # 随時改定: now 2割
    member.save()
    nightly_run(run_date=D(2026, 10, 1), trigger="test")
    assert open_flags(member) == {("reissue_needed", "")}
    night_and_issue(D(2026, 10, 1))
    old.refresh_from_db()
    new = Certificate.objects.exclude(pk=old.pk).get()
    assert old.status == "superseded" and new.supersedes == old
    assert (new.reason, new.copay, new.valid_from, new.valid_until) == (
        "reissue",
        2,
        D(2026, 10, 1),
        old.valid_until,
    )
    nightly_run(run_date=D(2026, 10, 2), trigger="test")
    assert open_flags(member) == set()


@pytest.mark.django_db
def test_name_change_leads_to_a_reissue_and_a_new_notice_for_card_holders(insurer, office):
    holder = MemberFactory(
        office=office, number="3", acquired_on=D(2025, 4, 1), oqs_registered_on=D(2025, 4, 3)
    )
    MynaStatusFactory(member=holder, card="held", registration="registered")
    batch = night_and_issue(D(2026, 4, 1))
    notice = Notice.objects.get(member=holder)
    assert (notice.reason, notice.batch) == ("new_member", batch)
    holder.family_name, holder.family_name_kana = "川口", "カワグチ"
    holder.save()
    night_and_issue(D(2026, 4, 2))
    assert list(
        Notice.objects.filter(member=holder).values_list("reason", flat=True).order_by("pk")
    ) == ["new_member", "changed"]
    night_and_issue(D(2026, 4, 3))
    assert Notice.objects.filter(member=holder).count() == 2  # nothing changed since


@pytest.mark.django_db
def test_lost_card_case_from_report_to_closure(insurer, office, clerk, supervisor):
    member = MemberFactory(office=office, number="4")
    MynaStatusFactory(member=member, card="held", registration="registered", as_of=D(2026, 4, 30))
    case = LostCardCase.objects.create(
        member=member,
        lost_on=D(2026, 5, 10),
        reported_on=D(2026, 5, 11),
        hotline_suspended=True,
        police_report_number="",
    )
    application = Application.objects.create(
        member=member, kind="lost_card", received_on=D(2026, 5, 13), lost_card_case=case
    )
    with pytest.raises(PermissionDenied):
        application_decide(
            application=application, approve=True, decided_on=D(2026, 5, 15), user=clerk
        )
    certificate = application_decide(
        application=application, approve=True, decided_on=D(2026, 5, 15), user=supervisor
    )
    assert (certificate.reason, certificate.valid_from, certificate.valid_until) == (
        "lost_card",
        D(2026, 5, 15),
        D(2026, 7, 31),
    )
    assert certificate.batch.kind == "single"
    nightly_run(run_date=D(2026, 5, 16), trigger="test")
    assert open_flags(member) == set()  # covered by the interim certificate
    # the new card is registered: the June data closes the case, the certificate goes back
    status = MynaStatus.objects.get(member=member)
    status.as_of = D(2026, 6, 30)
    status.save()
    run = nightly_run(run_date=D(2026, 7, 6), trigger="test")
    case.refresh_from_db()
    assert (case.status, case.closed_on, run.counts["lost_card_cases_closed"]) == (
        "closed",
        D(2026, 7, 6),
        1,
    )
    assert open_flags(member) == {("return_requested", "")}


@pytest.mark.django_db
def test_a_clerk_can_close_a_lost_card_case_only_with_a_note(insurer, office):
    member = MemberFactory(office=office, number="5")
    case = LostCardCase.objects.create(
        member=member, lost_on=D(2026, 5, 10), reported_on=D(2026, 5, 11)
    )
    with pytest.raises(ValidationError):
        lost_card_case_close(case=case, closed_on=D(2026, 5, 20), user=None, note=" ")
    lost_card_case_close(
        case=case, closed_on=D(2026, 5, 20), user=None, note="カードが見つかったと電話あり"
    )
    assert LostCardCase.objects.get().status == "closed"


@pytest.mark.django_db
def test_care_needs_renew_without_a_new_application(insurer, office, supervisor):
    member = MemberFactory(office=office, number="6", birth_date=D(1970, 5, 5))
    MynaStatusFactory(member=member, card="held", registration="registered")  # a usable card
    application = Application.objects.create(
        member=member,
        kind="care_needs",
        received_on=D(2026, 4, 1),
        applicant_type="carer",
        applicant_name="佐藤 介護",
        evidence="long_term_care",
    )
    with pytest.raises(ValidationError):
        application_decide(
            application=application, approve=True, decided_on=D(2026, 4, 2), user=supervisor
        )
    application.review_on = D(2027, 4, 1)
    first = application_decide(
        application=application, approve=True, decided_on=D(2026, 4, 2), user=supervisor
    )
    assert (first.reason, first.valid_until) == ("care_needs", D(2031, 3, 31))
    nightly_run(run_date=D(2026, 4, 3), trigger="test")
    assert open_flags(member) == set()  # no return requested: the approval is in force
    nightly_run(run_date=D(2031, 2, 1), trigger="test")
    assert open_flags(member) == {("renewal_due", "")}
    night_and_issue(D(2031, 2, 1))
    renewal = Certificate.objects.exclude(pk=first.pk).get()
    assert (renewal.reason, renewal.valid_from, renewal.renews) == (
        "care_needs",
        D(2031, 4, 1),
        first,
    )
    assert Application.objects.count() == 1


@pytest.mark.django_db
def test_ending_a_care_needs_approval_stops_its_renewal(insurer, office, clerk, supervisor):
    member = MemberFactory(office=office, number="7", birth_date=D(1970, 5, 5))
    MynaStatusFactory(member=member, card="held", registration="registered")  # a usable card
    application = Application.objects.create(
        member=member,
        kind="care_needs",
        received_on=D(2026, 4, 1),
        evidence="long_term_care",
        review_on=D(2027, 4, 1),
    )
    first = application_decide(
        application=application, approve=True, decided_on=D(2026, 4, 2), user=supervisor
    )
    with pytest.raises(PermissionDenied):
        care_needs_end(application=application, ended_on=D(2027, 4, 1), note="x", user=clerk)
    with pytest.raises(ValidationError):
        care_needs_end(application=application, ended_on=D(2027, 4, 1), note=" ", user=supervisor)

    care_needs_end(
        application=application,
        ended_on=D(2027, 4, 1),
        note="見直しの結果、支援不要",
        user=supervisor,
    )
    application.refresh_from_db()
    assert (application.status, application.ended_on) == ("ended", D(2027, 4, 1))
    last = application.history.first()
    assert (last.history_change_reason, last.history_user) == (
        "要配慮者の承認を終了（2027-04-01）",
        supervisor,
    )
    with pytest.raises(ValidationError):  # once only
        care_needs_end(application=application, ended_on=D(2027, 4, 2), note="再", user=supervisor)

    # The nightly run no longer counts the approval: no renewal, the return is requested
    # (a usable card and no other reason), and after expiry nothing asks for a new one.
    nightly_run(run_date=D(2031, 2, 1), trigger="test")
    assert open_flags(member) == {("return_requested", "")}
    night_and_issue(D(2031, 2, 1))
    assert list(Certificate.objects.filter(member=member)) == [first]
    nightly_run(run_date=D(2031, 4, 1), trigger="test")
    assert not Flag.objects.filter(
        member=member, closed_on__isnull=True, kind__in=["renewal_due", "certificate_needed"]
    ).exists()


@pytest.mark.django_db
def test_deregistration_application_puts_the_person_in_dereg_requested_and_issues(
    insurer, office, supervisor
):
    member = MemberFactory(office=office, number="7")
    MynaStatusFactory(member=member, card="held", registration="registered")
    application = Application.objects.create(
        member=member, kind="deregistration", received_on=D(2026, 4, 1)
    )
    certificate = application_decide(
        application=application, approve=True, decided_on=D(2026, 4, 3), user=supervisor
    )
    assert MynaStatus.objects.get(member=member).dereg_requested_on == D(2026, 4, 1)
    assert certificate.reason == "deregistered"


@pytest.mark.django_db
def test_loss_of_membership_requests_the_return_and_the_unreturned_list(no_card):
    from certificates.selectors import unreturned_certificates

    certificate_issue(member=no_card, reason="no_card", issued_on=D(2026, 4, 15))
    no_card.lost_on, no_card.loss_reason = D(2026, 9, 1), "retired"
    no_card.save()
    nightly_run(run_date=D(2026, 9, 1), trigger="test")
    assert open_flags(no_card) == {("return_requested", "")}
    assert not unreturned_certificates(D(2026, 9, 6)).exists()  # within 5 days of the loss
    assert list(unreturned_certificates(D(2026, 9, 7))) == list(Certificate.objects.all())


@pytest.mark.django_db
def test_expiry(no_card):
    certificate = certificate_issue(member=no_card, reason="no_card", issued_on=D(2026, 4, 15))
    nightly_run(run_date=D(2031, 3, 31), trigger="test")
    assert Certificate.objects.get().status == "issued"
    run = nightly_run(run_date=D(2031, 4, 1), trigger="test")
    certificate.refresh_from_db()
    assert (certificate.status, run.counts["certificates_expired"]) == ("expired", 1)
    assert certificate.history.latest().history_change_reason == "有効期限切れ"


@pytest.mark.django_db
def test_the_service_refuses_overlapping_certificates(no_card):
    certificate_issue(member=no_card, reason="no_card", issued_on=D(2026, 4, 15))
    with pytest.raises(ValidationError, match="重なる期間"):
        certificate_issue(member=no_card, reason="no_card", issued_on=D(2027, 1, 1))


@pytest.mark.django_db
def test_no_certificate_when_membership_ends_before_it_could_start(insurer, office):
    member = MemberFactory(office=office, number="8", birth_date=D(1951, 4, 16))  # 75 on 2026-04-16
    with pytest.raises(ValidationError, match="有効期間を取れません"):
        certificate_issue(member=member, reason="no_card", issued_on=D(2026, 4, 16))
