"""Months of nights: a seeded register lived through day by day, as an office lives it.

Member and national status files go through the real `import` command; `run_nightly` and
`issue_certificates` run for each date (month ends, 31 March, 1 April and a leap day
among them), some forced to run again. After every job the exports are compared with
what tests/oracle.py computes from the pure rules alone; a forced re-run must change
nothing. The register covers the edges of domain.md: births on 29 February and on the
1st, children born 31 March / 1 April, people reaching 70 and 75 with dependants,
remuneration around 280,000, voluntary and residence ends, late registrations and
requested certificates, renames and identifier corrections, losses filed early, late and
withdrawn, stale and same-date status rows, and a common end date set and cleared.
"""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from insurer.history import save_with_history
from insurer.selectors import insurer_settings_get
from members.models import MynaStatus
from members.rules import add_months, anniversary, month_end
from tests.factories import InsurerFactory, OfficeFactory
from tests.jobs import (
    certificates,
    export,
    import_members,
    import_statuses,
    issue,
    member_row,
    night,
)
from tests.oracle import (
    Key,
    certificate_of_row,
    expected_flags,
    expected_issue,
    expected_losses,
    snapshot,
)

OFFICES = ("101", "102")
FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ")]
FAMILY += [("渡辺", "ワタナベ"), ("伊藤", "イトウ"), ("山本", "ヤマモト"), ("中村", "ナカムラ")]
FAMILY += [("髙橋", "タカハシ"), ("山﨑", "ヤマサキ")]  # outside JIS X 0208 (ID-4)
GIVEN = [("一郎", "イチロウ"), ("花子", "ハナコ"), ("健", "ケン"), ("陽子", "ヨウコ")]
REMUNERATION = [200_000, 260_000, 279_000, 280_000, 300_000, 500_000]
CARDS = [("none", "unregistered"), ("held", "unregistered"), ("held", "registered")]
CARDS += [("held", "registered"), ("held", "deregistered"), ("returned", "unregistered")]
CARDS += [("returned", "registered")]
SERVED = {"certificate_needed", "renewal_due", "reissue_needed"}


def iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


@dataclass
class Simulation:
    seed: int
    directory: Path
    start: date = date(2026, 10, 1)
    months: int = 18
    households: int = 40
    gaps: tuple[int, int] = (2, 9)
    rerun_share: float = 0.25
    rng: random.Random = field(init=False)
    number: int = 0
    files: int = 0
    seen: Counter = field(default_factory=Counter)
    script: dict = field(default_factory=dict)  # date → [(key, changes)], see scripted()
    today: date | None = None  # the simulated day: files are imported with --date today

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.end = add_months(self.start, self.months)

    # --- the register --------------------------------------------------------------

    def birth_near(self, years: int) -> date:
        """Someone whose `years`th anniversary falls inside the simulated months."""
        day = self.start + timedelta(days=self.rng.randrange((self.end - self.start).days))
        return years_before(day, years)

    def insured_birth(self) -> date:
        rng = self.rng
        fixed = [date(1952, 2, 29), date(1956, 2, 29), date(1951, 12, 1), date(1957, 1, 15)]
        fixed += [date(1952, 4, 1), date(1952, 3, 31), date(1957, 3, 1), date(1956, 12, 1)]
        kind = rng.random()
        if kind < 0.2:
            return rng.choice(fixed)
        if kind < 0.45:
            return self.birth_near(75)
        if kind < 0.7:
            return self.birth_near(70)
        return date(rng.randint(1960, 1998), rng.randint(1, 12), rng.choice([1, 15, 28]))

    def dependant_birth(self, relationship: str, insured_birth: date) -> date:
        rng = self.rng
        if relationship == "child":
            edges = [date(2019, 3, 31), date(2019, 4, 1), date(2020, 4, 1), date(2020, 4, 2)]
            edges += [date(2020, 2, 29), date(2021, 3, 1)]
            if rng.random() < 0.5:
                return rng.choice(edges)
            return date(rng.randint(2005, 2024), rng.randint(1, 12), rng.randint(1, 28))
        if rng.random() < 0.4:
            return self.birth_near(rng.choice([70, 75]))
        return insured_birth + timedelta(days=rng.randint(-2000, 2000))

    def person(
        self,
        symbol: str,
        number: str,
        branch: str,
        relationship: str,
        birth: date,
        acquired: date,
        **values,
    ) -> dict:
        family, family_kana = self.rng.choice(FAMILY)
        given, given_kana = self.rng.choice(GIVEN)
        row = {
            "symbol": symbol,
            "number": number,
            "branch": branch,
            "relationship": relationship,
            "family_name": family,
            "given_name": given,
            "family_name_kana": family_kana,
            "given_name_kana": given_kana,
            "birth_date": iso(birth),
            "sex": self.rng.choice("12"),
            "acquired_on": iso(max(acquired, birth)),
        }
        row.update(values)
        return member_row(**row)

    def household(self, acquired: date, *, today: date | None = None) -> list[dict]:
        rng = self.rng
        self.number += 1
        symbol, number = rng.choice(OFFICES), str(self.number)
        birth = self.insured_birth()
        extra = {"standard_monthly_remuneration": str(rng.choice(REMUNERATION))}
        if today is not None:  # a new member: reported, maybe not registered, maybe asking
            notified = min(today, acquired + timedelta(days=rng.randint(0, 5)))
            registered = rng.choice([None, None, notified + timedelta(days=rng.randint(1, 12))])
            extra.update(
                notified_on=iso(notified),
                oqs_registered_on=iso(registered),
                certificate_requested=rng.choice(["1", "", ""]),
            )
        if rng.random() < 0.1:
            extra["income_reduction"] = "1"
        if rng.random() < 0.1:
            extra["voluntary_until"] = iso(self.start + timedelta(days=rng.randint(30, 600)))
        if rng.random() < 0.1:
            extra["residence_expires_on"] = iso(self.start + timedelta(days=rng.randint(30, 600)))
        acquired = max(acquired, birth + timedelta(days=365 * 18))
        if anniversary(birth, 75) <= acquired:
            birth = self.birth_near(70)
        rows = [self.person(symbol, number, "00", "self", birth, acquired, **extra)]
        for branch in range(1, rng.choice([1, 1, 2, 3, 4])):
            relationship = rng.choice(["spouse", "child", "child", "parent"])
            dependant_birth = self.dependant_birth(relationship, birth)
            joined = max(acquired, dependant_birth)
            if anniversary(dependant_birth, 75) <= joined:
                dependant_birth = self.birth_near(70)
            rows.append(
                self.person(
                    symbol,
                    number,
                    f"{branch:02d}",
                    relationship,
                    dependant_birth,
                    joined,
                    certificate_requested=extra.get("certificate_requested", ""),
                )
            )
        return rows

    def scripted(self) -> list[dict]:
        """Households every run has, with the changes that test the rarer paths: an elderly
        couple (3割 on both certificates until the insured person's 基準収入額 approval makes
        the household 2割), the issue's 101-1-00 (a certificate to the day before 70, its
        renewal, then a rename while the renewal is issued), a household whose insured
        person retires before 75, and one whose loss at 75 is filed late."""
        couple = [
            self.person("101", "9001", "00", "self", date(1954, 5, 10), date(1990, 4, 1),
                        standard_monthly_remuneration="300000", family_name="髙橋",
                        family_name_kana="タカハシ"),
            self.person("101", "9001", "01", "spouse", date(1955, 1, 20), date(1990, 4, 1)),
        ]  # fmt: skip
        first = self.start + timedelta(days=1)
        self.script = {
            add_months(first, 2): [(("101", "9001", "00"), {"income_reduction": "1"})],
            add_months(first, 3): [
                (("101", "9002", "00"), {"family_name": "木村", "family_name_kana": "キムラ"})
            ],
            add_months(first, 1): [
                (("102", "9003", "00"), {"lost_on": iso(first + timedelta(days=40)),
                                          "loss_reason": "retired"})
            ],
            add_months(first, 4): [
                (("102", "9004", "00"), {"lost_on": iso(self.start + timedelta(days=200)),
                                          "loss_reason": "retired"})
            ],
            add_months(first, 5): [  # the clerk's registered name for 髙橋 (ID-4)
                (("101", "9001", "00"), {"registered_family_name": "高橋"})
            ],
        }  # fmt: skip
        return [
            *couple,
            self.person("101", "9002", "00", "self", self.birth_near(70) + timedelta(days=-60),
                        date(2000, 4, 1), standard_monthly_remuneration="300000"),
            self.person("102", "9003", "00", "self", self.birth_near(75), date(2000, 4, 1),
                        standard_monthly_remuneration="260000"),
            self.person("102", "9003", "01", "spouse", date(1960, 6, 1), date(2000, 4, 1)),
            self.person("102", "9004", "00", "self", years_before(self.start, 75)
                        + timedelta(days=45), date(2000, 4, 1),
                        standard_monthly_remuneration="280000"),
            self.person("102", "9004", "01", "child", date(1990, 3, 31), date(2000, 4, 1)),
        ]  # fmt: skip

    def setup(self) -> None:
        self.today = self.start
        InsurerFactory()
        for symbol in OFFICES:
            OfficeFactory(symbol=symbol, name=f"シミュレーション商事 {symbol}")
        rows = self.scripted()
        for _ in range(self.households):
            acquired = date(self.rng.randint(1995, 2025), self.rng.randint(1, 12), 1)
            rows += self.household(acquired)
        self.import_members(rows)
        self.import_statuses(self.start - timedelta(days=20), share=0.7)

    # --- files ------------------------------------------------------------------------

    def register(self) -> dict[Key, dict]:
        return {
            (row["symbol"], row["number"], row["branch"]): row
            for row in export("members.resources.MemberResource")
        }

    def import_members(self, rows: list[dict]) -> None:
        self.files += 1
        import_members(self.directory, rows, name=f"members-{self.files}.csv", day=self.today)

    def import_statuses(self, as_of: date, *, share: float) -> None:
        rng, rows = self.rng, []
        stored = {
            (row.member.office_id, row.member.number, row.member.branch): row.as_of
            for row in MynaStatus.objects.select_related("member")
        }
        for key in self.register():
            if rng.random() > share:
                continue
            row_as_of = as_of - timedelta(days=rng.randint(0, 15))
            if key in stored and rng.random() < 0.15:  # stale or same-date rows
                row_as_of = stored[key] - timedelta(days=rng.choice([0, 0, 1, 30]))
                self.seen["status stale or same date"] += 1
            card, registration = rng.choice(CARDS)
            expiry = None
            if card == "held" and rng.random() < 0.5:
                expiry = add_months(as_of, rng.randint(-8, 24))
            rows.append((*key, iso(row_as_of), card, registration, iso(expiry)))
        if rows:
            self.files += 1
            import_statuses(self.directory, rows, name=f"status-{self.files}.csv", day=self.today)

    def member_events(self, day: date) -> None:
        """A file of what employers reported since the last night."""
        rng = self.rng
        register = self.register()
        changed: dict[Key, dict] = {}

        def pick(condition) -> tuple[Key, dict] | None:
            keys = [key for key, row in register.items() if condition(row)]
            if not keys:
                return None
            key = rng.choice(sorted(keys))
            return key, dict(changed.get(key, register[key]))

        def active(row) -> bool:
            return not row["lost_on"] or row["lost_on"] > iso(day)

        events = rng.randint(0, 4)
        for _ in range(events):
            event = rng.choice(
                [
                    "rename", "rename", "correct", "remuneration", "remuneration",
                    "income_reduction", "loss", "loss", "late_loss", "withdraw",
                    "registered", "voluntary", "residence", "newborn", "registered_name",
                ]
            )  # fmt: skip
            if event == "rename" and (chosen := pick(active)):
                key, row = chosen
                row["family_name"], row["family_name_kana"] = rng.choice(FAMILY)
            elif event == "correct" and (chosen := pick(active)):
                key, row = chosen
                if rng.random() < 0.5:
                    row["sex"] = "2" if row["sex"] == "1" else "1"
                else:
                    birth = date.fromisoformat(row["birth_date"]) + timedelta(
                        days=rng.choice([-1, 1])
                    )
                    if iso(birth) >= row["acquired_on"]:
                        continue
                    row["birth_date"] = iso(birth)
            elif event == "remuneration" and (
                chosen := pick(lambda r: r["relationship"] == "self" and active(r))
            ):
                key, row = chosen
                row["standard_monthly_remuneration"] = str(rng.choice(REMUNERATION))
            elif event == "income_reduction" and (chosen := pick(active)):
                key, row = chosen
                row["income_reduction"] = "" if row["income_reduction"] else "1"
            elif event == "loss" and (chosen := pick(active)):
                key, row = chosen
                lost = day + timedelta(days=rng.randint(-6, 10))
                if iso(lost) <= row["acquired_on"]:
                    continue
                row["lost_on"] = iso(lost)
                row["loss_reason"] = rng.choice(["retired", "death", "other"])
                self.seen["loss filed"] += 1
            elif event == "late_loss" and (
                chosen := pick(
                    lambda r: (
                        iso(anniversary(date.fromisoformat(r["birth_date"]), 75))
                        <= iso(day + timedelta(days=30))
                        and r["acquired_on"]
                        < iso(anniversary(date.fromisoformat(r["birth_date"]), 75))
                    )
                )
            ):
                key, row = chosen
                late = anniversary(date.fromisoformat(row["birth_date"]), 75) + timedelta(
                    days=rng.randint(1, 90)
                )
                row["lost_on"], row["loss_reason"] = iso(late), rng.choice(["retired", ""])
                self.seen["late loss filed"] += 1
            elif event == "withdraw" and (chosen := pick(lambda r: r["lost_on"])):
                key, row = chosen
                row["lost_on"], row["loss_reason"] = "", ""
                self.seen["loss withdrawn"] += 1
            elif event == "registered" and (chosen := pick(lambda r: not r["oqs_registered_on"])):
                key, row = chosen
                row["oqs_registered_on"] = iso(day - timedelta(days=rng.randint(0, 3)))
                row["notified_on"] = row["notified_on"] or iso(day - timedelta(days=8))
            elif event == "registered_name" and (
                chosen := pick(lambda r: r["family_name"] in {"髙橋", "山﨑"})
            ):
                key, row = chosen
                row["registered_family_name"] = {"髙橋": "高橋", "山﨑": "山崎"}[row["family_name"]]
            elif event == "voluntary" and (
                chosen := pick(lambda r: r["relationship"] == "self" and active(r))
            ):
                key, row = chosen
                row["voluntary_until"] = iso(day + timedelta(days=rng.randint(10, 500)))
            elif event == "residence" and (chosen := pick(active)):
                key, row = chosen
                row["residence_expires_on"] = iso(day + timedelta(days=rng.randint(10, 400)))
            elif event == "newborn" and (
                chosen := pick(lambda r: r["relationship"] == "self" and active(r))
            ):
                (symbol, number, _), _ = chosen
                branches = [int(k[2]) for k in register if k[:2] == (symbol, number)]
                branch = f"{max(branches) + 1:02d}"
                born = day - timedelta(days=rng.randint(0, 20))
                key = (symbol, number, branch)
                row = self.person(
                    symbol, number, branch, "child", born, born,
                    notified_on=iso(day), certificate_requested=rng.choice(["1", ""]),
                )  # fmt: skip
            else:
                continue
            changed[key] = row
            self.seen[event] += 1
        for when in [when for when in self.script if when <= day]:
            for key, changes in self.script.pop(when):
                changed[key] = {**changed.get(key, register[key]), **changes}
                self.seen["scripted"] += 1
        rows = list(changed.values())
        if rng.random() < 0.25:
            rows += self.household(day - timedelta(days=rng.randint(0, 14)), today=day)
            self.seen["new household"] += 1
        if rows:
            self.import_members(rows)

    def settings_events(self, day: date) -> None:
        """Halfway, the insurer sets a common end date for push-issued certificates; a few
        months later it is cleared again."""
        settings = insurer_settings_get()
        middle = add_months(self.start, self.months // 2)
        if (
            day >= middle
            and settings.push_certificates_valid_until is None
            and not self.seen["common end date set"]
        ):
            settings.push_certificates_valid_until = month_end(add_months(day, 8))
            save_with_history(settings, reason="統一有効期限を設定", user=None)
            self.seen["common end date set"] += 1
        elif day >= add_months(middle, 4) and settings.push_certificates_valid_until:
            settings.push_certificates_valid_until = None
            save_with_history(settings, reason="統一有効期限を解除", user=None)

    # --- the nights ---------------------------------------------------------------------

    def dates(self) -> list[date]:
        days, day = set(), self.start
        while day < self.end:
            days.add(day)
            day += timedelta(days=self.rng.randint(*self.gaps))
        must = {date(2027, 3, 31), date(2027, 4, 1), date(2028, 2, 29), date(2028, 3, 1)}
        must |= {month_end(add_months(self.start, n)) for n in range(0, self.months, 5)}
        return sorted(days | {d for d in must if self.start <= d < self.end})

    def run(self) -> None:
        self.setup()
        month = None
        for day in self.dates():
            self.today = day
            if (day.year, day.month) != month:
                month = (day.year, day.month)
                self.import_statuses(day, share=0.25)
            self.member_events(day)
            self.settings_events(day)
            self.night(day)
            self.issue(day)

    def night(self, day: date) -> None:
        before = snapshot()
        night(day)
        register = self.register()
        for key, (lost_on, reason) in expected_losses(before, day).items():
            actual = (register[key]["lost_on"], register[key]["loss_reason"])
            assert actual == (iso(lost_on), reason), f"{day} {key}: loss {actual}"
        wanted = expected_flags(snapshot(), day)
        actual = self.flags()
        assert actual == wanted, self.difference(day, "flags", wanted, actual)
        for kinds in wanted.values():
            self.seen.update(f"{kind}:{reason}" if reason else kind for kind, reason in kinds)
        if self.rng.random() < self.rerun_share:
            night(day, force=True)
            assert self.flags() == wanted, f"{day}: a forced re-run changed the worklist"
            assert self.register() == register, f"{day}: a forced re-run changed the register"
            self.seen["nightly re-run"] += 1

    def issue(self, day: date) -> None:
        state = snapshot()
        flags = {key: {f for f in kinds if f[0] in SERVED} for key, kinds in self.flags().items()}
        wanted, superseded, skipped = expected_issue(
            state, {k: v for k, v in flags.items() if v}, day
        )
        before = {self.identity(row): row["status"] for row in certificates()}
        issue(day)
        rows = certificates()
        new = Counter(certificate_of_row(r) for r in rows if r["issued_on"] == iso(day))
        assert new == Counter(wanted), self.difference(day, "certificates", wanted, set(new))
        now_superseded = {
            identity[0]
            for identity, status in before.items()
            if status == "issued"
            and {self.identity(r): r["status"] for r in rows}.get(identity) == "superseded"
        }
        assert now_superseded == superseded, f"{day}: superseded {now_superseded} ≠ {superseded}"
        still_open = {(k, f) for k, kinds in self.flags().items() for f, _ in kinds if f in SERVED}
        assert still_open == skipped, f"{day}: left open {still_open}, rules say {skipped}"
        self.seen["no period (flag left open)"] += len(skipped)
        self.seen["certificates"] += len(wanted)
        self.seen.update(certificate.reason for certificate in wanted)
        if self.rng.random() < self.rerun_share:
            issue(day, force=True)
            assert certificates() == rows, f"{day}: a forced re-run changed the certificates"
            self.seen["issuing re-run"] += 1

    # --- reading back -------------------------------------------------------------------

    @staticmethod
    def identity(row: dict) -> tuple:
        return (
            (row["symbol"], row["number"], row["branch"]),
            row["issued_on"],
            row["valid_from"],
            row["valid_until"],
            row["reason"],
        )

    @staticmethod
    def flags() -> dict[Key, set[tuple[str, str]]]:
        result: dict[Key, set] = {}
        for row in export("members.resources.FlagResource"):
            key = (row["symbol"], row["number"], row["branch"])
            result.setdefault(key, set()).add((row["flag"], row["reason"]))
        return result

    @staticmethod
    def difference(day: date, what: str, wanted, actual) -> str:
        if isinstance(wanted, dict):
            keys = sorted(set(wanted) | set(actual))
            rows = [
                (k, wanted.get(k), actual.get(k)) for k in keys if wanted.get(k) != actual.get(k)
            ]
            return f"{day} {what}: {len(rows)} differ (key, rules, product): {rows[:5]}"
        return f"{day} {what}: rules only {sorted(set(wanted) - set(actual))[:5]}, product only {sorted(set(actual) - set(wanted))[:5]}"
