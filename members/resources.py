"""Member register and national status imports (spec/files.md: members.csv, status.csv).

Column mapping and cell checks only; what a row means is decided by services and rules.
"""

from functools import cached_property

from django.core.exceptions import ValidationError
from django.db import connections, router
from import_export import resources
from import_export.fields import Field
from import_export.instance_loaders import BaseInstanceLoader

from insurer.bulk import (
    bulk_insert_with_history,
    bulk_save_with_history,
    instance_maker,
    stored_columns,
    stored_maker,
)
from insurer.imports import (
    CodeWidget,
    DateWidget,
    DigitsWidget,
    FlagWidget,
    LookupWidget,
    RequiredTextWidget,
    StrictModelResource,
    TextWidget,
    YenWidget,
    cell_text,
    shown,
)
from insurer.models import Office
from insurer.rules import is_valid_my_number

from . import vault
from .models import Flag, Member, MynaStatus, MyNumber
from .rules import is_katakana, mask_my_number, my_number_error, normalize_kana, normalize_my_number
from .services import (
    DEPENDENT_WITHOUT_INSURED,
    MY_NUMBER_IN_USE,
    member_normalize,
    my_numbers_register_bulk,
    myna_status_apply,
)

UNKNOWN_OFFICE = "記号「{value}」の事業所が登録されていません。"
UNKNOWN_MEMBER = "記号・番号・枝番 {key} の加入者が登録されていません。"
MY_NUMBER_TWICE = "同じ個人番号がファイル内の {first}行目にもあります。"
MY_NUMBER_CHUNK = 5_000
REMUNERATION_SELF_ONLY = "標準報酬月額は本人（self）の行にだけ入力します。"

MEMBER_COLUMNS = (
    "symbol",
    "number",
    "branch",
    "relationship",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "birth_date",
    "sex",
    "postal_code",
    "address",
    "acquired_on",
    "lost_on",
    "loss_reason",
    "standard_monthly_remuneration",
    "income_reduction",
    "notified_on",
    "oqs_registered_on",
    "voluntary_until",
    "residence_expires_on",
    "my_number",
    "certificate_requested",
    "registered_family_name",
    "registered_given_name",
)
# Columns a file may leave out (older files import unchanged); the export always has them.
MEMBER_OPTIONAL = ("certificate_requested", "registered_family_name", "registered_given_name")


class KanaWidget(RequiredTextWidget):
    """Hiragana and half-width kana become full-width katakana."""

    def clean(self, value, row=None, **kwargs) -> str:
        kana = normalize_kana(super().clean(value, row, **kwargs))
        if not is_katakana(kana):
            raise ValueError(f"カナ以外の文字が含まれています（値: {shown(kana)}）。")
        return kana


def _key(row) -> tuple[str, str, str]:
    return tuple(str(row.get(column) or "").strip() for column in ("symbol", "number", "branch"))


def _column(dataset, name: str) -> list[str]:
    return [cell_text(value) for value in dataset[name]]


def _keys(dataset) -> set[tuple[str, str, str]]:
    """Every (symbol, number, branch) of the file, read by column (no dict per row)."""
    if not dataset.height:
        return set()
    return set(
        zip(*(_column(dataset, name) for name in ("symbol", "number", "branch")), strict=True)
    )


KEY_CHUNK = 2_000


def _members_named(keys, queryset):
    """The members of `queryset` whose (symbol, number) the keys name, a chunk of keys at a
    time: a file's members, not every member of its offices."""
    households = sorted({(symbol, number) for symbol, number, *_ in keys})
    for start in range(0, len(households), KEY_CHUNK):
        chunk = households[start : start + KEY_CHUNK]
        yield from queryset.filter(
            office_id__in={symbol for symbol, _ in chunk},
            number__in={number for _, number in chunk},
        ).iterator(chunk_size=KEY_CHUNK)


def members_by_key(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Member]:
    """The stored members with these (symbol, number, branch) keys, in one query: a join
    with the keys on PostgreSQL (no cross product of offices and numbers)."""
    if not keys:
        return {}
    if connections[router.db_for_read(Member)].vendor != "postgresql":
        wanted = set(keys)
        return {
            (m.office_id, m.number, m.branch): m
            for m in _members_named(wanted, Member.objects.all())
            if (m.office_id, m.number, m.branch) in wanted
        }
    alias = router.db_for_read(Member)
    symbols, numbers, branches = (list(column) for column in zip(*keys, strict=True))
    make = stored_maker(Member, alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT {stored_columns(Member, 'm')} FROM {Member._meta.db_table} AS m"
            " JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(symbol, number, branch)"
            " ON m.symbol = k.symbol AND m.number = k.number AND m.branch = k.branch",
            [symbols, numbers, branches],
        )
        members = [make(row) for row in cursor]
    return {(m.office_id, m.number, m.branch): m for m in members}


def member_ids_by_key(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """{(symbol, number, branch): member id} for the stored members with these keys."""
    if not keys:
        return {}
    if connections[router.db_for_read(Member)].vendor != "postgresql":
        wanted = set(keys)
        rows = _members_named(
            wanted, Member.objects.values_list("office_id", "number", "branch", "pk")
        )
        return {(s, n, b): pk for s, n, b, pk in rows if (s, n, b) in wanted}
    symbols, numbers, branches = (list(column) for column in zip(*keys, strict=True))
    with connections[router.db_for_read(Member)].cursor() as cursor:
        cursor.execute(
            f"SELECT m.symbol, m.number, m.branch, m.id FROM {Member._meta.db_table} AS m"
            " JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(symbol, number, branch)"
            " ON m.symbol = k.symbol AND m.number = k.number AND m.branch = k.branch",
            [symbols, numbers, branches],
        )
        return {(s, n, b): pk for s, n, b, pk in cursor}


def my_number_owners(digests: list[str]) -> dict[str, tuple[str, str, str]]:
    """{look-up hash: (symbol, number, branch) of the member whose number it is} for the
    stored My Numbers with these hashes: one index probe per hash on PostgreSQL (a join
    with the array, not a bitmap scan of an IN list)."""
    if not digests:
        return {}
    connection = connections[router.db_for_read(MyNumber)]
    if connection.vendor != "postgresql":
        return {
            digest: (symbol, number, branch)
            for digest, symbol, number, branch in MyNumber.objects.filter(
                lookup_hash__in=digests
            ).values_list("lookup_hash", "member__office_id", "member__number", "member__branch")
        }
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT n.lookup_hash, m.symbol, m.number, m.branch"
            f" FROM unnest(%s::text[]) AS k(lookup_hash)"
            f" JOIN {MyNumber._meta.db_table} AS n ON n.lookup_hash = k.lookup_hash"
            f" JOIN {Member._meta.db_table} AS m ON m.id = n.member_id",
            [list(digests)],
        )
        return {digest: (symbol, number, branch) for digest, symbol, number, branch in cursor}


def insured_branches(households: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """{(symbol, number): branch of its insured person} for the stored households named."""
    insured = Member.objects.filter(relationship=Member.Relationship.SELF)
    if connections[router.db_for_read(Member)].vendor != "postgresql":
        return {
            (symbol, number): branch
            for symbol, number, branch in _members_named(
                households, insured.values_list("office_id", "number", "branch")
            )
            if (symbol, number) in households
        }
    found = {}
    ordered = sorted(households)
    for start in range(0, len(ordered), KEY_CHUNK * 10):
        symbols, numbers = zip(*ordered[start : start + KEY_CHUNK * 10], strict=True)
        with connections[router.db_for_read(Member)].cursor() as cursor:
            # One index probe per household (LATERAL … LIMIT 1), whatever the planner
            # believes of relationship = 'self': a merge join would sort every insured.
            cursor.execute(
                "SELECT k.symbol, k.number, m.branch"
                " FROM unnest(%s::text[], %s::text[]) AS k(symbol, number)"
                f" CROSS JOIN LATERAL (SELECT branch FROM {Member._meta.db_table} AS m"
                " WHERE m.symbol = k.symbol AND m.number = k.number AND m.relationship = %s"
                " LIMIT 1) AS m",
                [list(symbols), list(numbers), Member.Relationship.SELF],
            )
            found.update(((symbol, number), branch) for symbol, number, branch in cursor)
    return found


def constraint_message(name: str) -> str:
    """The Japanese message a Member constraint carries (the database's last word)."""
    return next(c.violation_error_message for c in Member._meta.constraints if c.name == name)


class MemberInstanceLoader(BaseInstanceLoader):
    """Every member the file names, loaded once (not one SELECT per row)."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        keys = _keys(dataset) if dataset is not None else set()
        self.members = {
            (m.office_id, m.number, m.branch): m
            for m in _members_named(keys, Member.objects.all())
            if (m.office_id, m.number, m.branch) in keys
        }

    def get_instance(self, row):
        return self.members.get(_key(row))


def office_widget() -> LookupWidget:
    return LookupWidget(message=UNKNOWN_OFFICE, key_attribute="symbol")


class MemberResource(StrictModelResource):
    symbol = Field("office", "symbol", widget=office_widget())
    number = Field("number", "number", widget=DigitsWidget(min_length=1, max_length=8))
    branch = Field("branch", "branch", widget=DigitsWidget(min_length=2, max_length=2))
    relationship = Field(
        "relationship", "relationship", widget=CodeWidget(Member.Relationship.values)
    )
    family_name = Field("family_name", "family_name", widget=RequiredTextWidget())
    given_name = Field("given_name", "given_name", widget=RequiredTextWidget())
    family_name_kana = Field("family_name_kana", "family_name_kana", widget=KanaWidget())
    given_name_kana = Field("given_name_kana", "given_name_kana", widget=KanaWidget())
    birth_date = Field("birth_date", "birth_date", widget=DateWidget(required=True, future_years=0))
    sex = Field("sex", "sex", widget=CodeWidget(Member.Sex.values))
    postal_code = Field("postal_code", "postal_code", widget=TextWidget())
    address = Field("address", "address", widget=TextWidget())
    acquired_on = Field("acquired_on", "acquired_on", widget=DateWidget(required=True))
    lost_on = Field("lost_on", "lost_on", widget=DateWidget(future_years=10))
    loss_reason = Field("loss_reason", "loss_reason", widget=TextWidget())
    standard_monthly_remuneration = Field(
        "standard_monthly_remuneration", "standard_monthly_remuneration", widget=YenWidget()
    )
    income_reduction = Field("has_income_reduction", "income_reduction", widget=FlagWidget())
    notified_on = Field("notified_on", "notified_on", widget=DateWidget())
    oqs_registered_on = Field("oqs_registered_on", "oqs_registered_on", widget=DateWidget())
    voluntary_until = Field(
        "voluntary_until", "voluntary_until", widget=DateWidget(future_years=10)
    )
    residence_expires_on = Field(
        "residence_expires_on", "residence_expires_on", widget=DateWidget(future_years=10)
    )
    certificate_requested = Field(
        "is_certificate_requested", "certificate_requested", widget=FlagWidget()
    )
    registered_family_name = Field(
        "registered_family_name", "registered_family_name", widget=TextWidget()
    )
    registered_given_name = Field(
        "registered_given_name", "registered_given_name", widget=TextWidget()
    )
    # Never exported; on import it is taken out of the rows before anything can show it.
    my_number = Field(column_name="my_number", readonly=True)

    columns = MEMBER_COLUMNS
    optional_columns = MEMBER_OPTIONAL
    my_number_columns = ("my_number",)
    key_columns = ("symbol", "number", "branch")
    change_reason = "ファイル取込（members.csv）"

    class Meta:
        model = Member
        fields = MEMBER_COLUMNS
        export_order = MEMBER_COLUMNS
        import_id_fields = ("symbol", "number", "branch")
        instance_loader_class = MemberInstanceLoader
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.insured_branch: dict[tuple[str, str], str] = {}  # household -> its self's branch
        self.my_numbers: dict[int, str] = {}  # row number -> plain number (this import only)
        self.saved_numbers: dict[int, str] = {}  # member id -> plain number, once saved
        self.my_number_digests: dict[int, str] = {}  # row number -> look-up hash
        self.my_number_problems: dict[int, str] = {}
        self.my_number_owner: dict[str, tuple[str, str, str]] = {}  # hash -> member key
        self.households_with_insured: set[tuple[str, str]] = set()
        self.chunk_members: dict[tuple[str, str, str], Member] = {}

    def dehydrate_my_number(self, member: Member) -> str:
        return ""

    # --- once per file, then once per chunk --------------------------------------------

    def start_file(self, headers: list[str]) -> None:
        super().start_file(headers)
        self.households_with_insured = set()  # (symbol, number) with a self row, file or register
        self.households_looked_up: set[tuple[str, str]] = set()
        self.insured_branch = {}
        self.first_row_of_hash: dict[str, int] = {}  # My Number look-up hash -> first row
        self.fields["symbol"].widget.known = {}
        index = self.column_index
        self._scan_columns = (index["symbol"], index["number"], index["relationship"])

    def scan_row(self, cells: list) -> None:
        """Pass 1: the households the file gives an insured person (a dependent's row may
        come before its insured person's)."""
        symbol, number, relationship = self._scan_columns
        if cell_text(cells[relationship]) == Member.Relationship.SELF:
            self.households_with_insured.add((cell_text(cells[symbol]), cell_text(cells[number])))

    def prepare(self, dataset, offset: int = 0) -> None:
        if not dataset.height:
            return
        symbols_column = _column(dataset, "symbol")
        offices = self.fields["symbol"].widget.known
        unseen = set(symbols_column) - offices.keys()
        if unseen:
            offices.update(Office.objects.in_bulk(unseen, field_name="symbol"))
        households = set(zip(symbols_column, _column(dataset, "number"), strict=True))
        households -= self.households_looked_up
        self.households_looked_up |= households
        stored_insured = {}
        if self.streaming:  # the chunk's stored members, loaded here for load_existing
            self.chunk_members = members_by_key(list(_keys(dataset)))
            # A household's stored insured person among them is the register's only one
            # (member_one_self_per_household): no need to look it up again.
            stored_insured = {
                (member.office_id, member.number): member.branch
                for member in self.chunk_members.values()
                if member.relationship == Member.Relationship.SELF
            }
        found = insured_branches(households - stored_insured.keys())
        for household, branch in (*stored_insured.items(), *found.items()):
            if household in households:
                self.insured_branch.setdefault(household, branch)  # the register's, first
                self.households_with_insured.add(household)
        self.take_my_numbers(dataset, offset)

    def take_my_numbers(self, dataset, offset: int = 0) -> None:
        """Move My Numbers out of the dataset (masked there), check them all at once."""
        self.my_numbers, self.my_number_digests, self.my_number_problems = {}, {}, {}
        first_row_of_hash = self.first_row_of_hash
        raws = _column(dataset, "my_number")
        keys = vault.EncryptionKeys() if any(raws) else None  # the hash key checked once
        check = is_valid_my_number
        chunk_digests = []
        for number, raw in enumerate(raws, start=offset + 1):
            if not raw:
                continue
            if len(raw) == 12 and raw.isascii() and raw.isdigit() and check(raw):
                plain = raw  # nearly every number: twelve ASCII digits, valid (ID-2)
            else:
                error = my_number_error(raw)
                if error:
                    self.my_number_problems[number] = error
                    continue
                plain = normalize_my_number(raw)
            digest = keys.lookup_hash(plain)
            first = first_row_of_hash.setdefault(digest, number)
            if first != number:
                self.my_number_problems[number] = MY_NUMBER_TWICE.format(first=self.line_of(first))
                continue
            chunk_digests.append(digest)
            self.my_number_digests[number] = digest
            self.my_numbers[number] = plain
        self.my_number_owner = my_number_owners(chunk_digests)
        index = dataset.headers.index("my_number")
        del dataset["my_number"]
        dataset.insert_col(
            index, [mask_my_number(raw[-4:]) if raw else "" for raw in raws], header="my_number"
        )
        del raws

    # --- per row --------------------------------------------------------------------

    def import_instance(self, instance: Member, row, **kwargs) -> None:
        gives_registered = any(
            str(row.get(column) or "").strip()
            for column in ("registered_family_name", "registered_given_name")
        )
        previous = (instance.family_name, instance.given_name) if instance.pk else None
        try:
            super().import_instance(instance, row, **kwargs)
        finally:
            member_normalize(instance, previous_name=None if gives_registered else previous)

    def row_rule_problems(self, member: Member, row_number: int | None):
        if not member.is_insured and member.office_id and member.number:
            if (member.office_id, member.number) not in self.households_with_insured:
                yield "relationship", DEPENDENT_WITHOUT_INSURED
        if not member.is_insured and member.standard_monthly_remuneration is not None:
            yield "standard_monthly_remuneration", REMUNERATION_SELF_ONLY
        if row_number in self.my_number_problems:
            yield "my_number", self.my_number_problems[row_number]
        elif row_number in self.my_numbers:
            owner = self.my_number_owner.get(self.my_number_digests[row_number])
            if owner is not None and owner != (member.office_id, member.number, member.branch):
                yield "my_number", MY_NUMBER_IN_USE

    # Model fields whose every check (choices, digits, null, type) the column's widget has
    # made already: a date from DateWidget, a flag from FlagWidget, a code from CodeWidget
    # with the model's own choices, digits from DigitsWidget with the validators' lengths.
    CHECKED_BY_WIDGET = (
        "number",
        "branch",
        "relationship",
        "sex",
        "birth_date",
        "acquired_on",
        "lost_on",
        "notified_on",
        "oqs_registered_on",
        "voluntary_until",
        "residence_expires_on",
        "has_income_reduction",
        "is_certificate_requested",
    )

    # What the model's full_clean would still check once the widgets and the cell checks
    # (every column's length, StrictModelResource.check_cells) have run: the postal code's
    # pattern and the remuneration's range; then Member.clean (ID-4, registered names).
    FIELDS_LEFT_TO_CLEAN = ("postal_code", "standard_monthly_remuneration")

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """Field validation by the model where no widget has done it; its constraints
        checked here from what the file and the register say, not with a query per
        constraint per row (the database constraints stay as the last guard)."""
        errors = dict(import_validation_errors or {})
        if not (instance.office_id and instance.office_id in self.fields["symbol"].widget.known):
            exclude = [*errors, *self.CHECKED_BY_WIDGET]  # not the usual row: every check
            try:
                instance.full_clean(
                    exclude=exclude, validate_unique=False, validate_constraints=False
                )
            except ValidationError as error:
                errors = error.update_error_dict(errors)
        else:
            memo = self._cleaned_values
            for name in self.FIELDS_LEFT_TO_CLEAN:
                if name in errors:
                    continue
                value = getattr(instance, name)
                try:  # the field's clean is a function of the value: once per value
                    ok, outcome = memo[name, value]
                except KeyError:
                    try:
                        ok, outcome = True, self._model_fields[name].clean(value, instance)
                    except ValidationError as error:
                        ok, outcome = False, error.messages
                    if len(memo) < 100_000:
                        memo[name, value] = ok, outcome
                except TypeError:  # not a key (cannot happen with these fields' values)
                    ok, outcome = True, self._model_fields[name].clean(value, instance)
                if ok:
                    setattr(instance, name, outcome)
                else:
                    errors.setdefault(name, []).extend(outcome)
            try:
                instance.clean()
            except ValidationError as error:
                errors = error.update_error_dict(errors)
        for column, message in self.constraint_problems(instance):
            errors.setdefault(column, []).append(message)
        if errors:
            raise ValidationError(errors)

    @cached_property
    def _cleaned_values(self) -> dict:
        """(field name, value) -> (True, cleaned value) or (False, its messages)."""
        return {}

    @cached_property
    def _model_fields(self) -> dict:
        return {field.name: field for field in Member._meta.concrete_fields}

    def constraint_problems(self, member: Member):
        if member.lost_on and member.acquired_on and member.lost_on <= member.acquired_on:
            yield "lost_on", constraint_message("member_loss_after_acquisition")
        if member.is_insured:
            household = (member.office_id, member.number)
            branch = self.insured_branch.setdefault(household, member.branch)
            if branch != member.branch:
                yield "relationship", constraint_message("member_one_self_per_household")

    def skip_row(self, instance, original, row, import_validation_errors=None) -> bool:
        return super().skip_row(instance, original, row, import_validation_errors) and (
            not self._my_number_changes(instance)
        )

    def _my_number_changes(self, member: Member) -> bool:
        digest = self.my_number_digests.get(self._current_row)
        if digest is None:
            return False
        owner = self.my_number_owner.get(digest)
        return owner != (member.office_id, member.number, member.branch)

    # --- the set-based path (insurer.imports.StrictModelResource.import_set_based) ---------

    set_based = True

    streaming = False  # in import_set_based: prepare loads the chunk's stored members

    def import_set_based(self, source, *, dry_run: bool, user=None):
        self.streaming = True
        try:
            return super().import_set_based(source, dry_run=dry_run, user=user)
        finally:
            self.streaming, self.chunk_members = False, {}

    def load_existing(self, rows: list[dict]) -> dict:
        members, self.chunk_members = self.chunk_members, {}  # loaded by prepare
        return members

    @cached_property
    def new_member(self):
        return instance_maker(Member)

    def init_instance(self, row=None) -> Member:
        return self.new_member()

    def unchanged(self, instance: Member, before: tuple) -> bool:
        return super().unchanged(instance, before) and not self._my_number_changes(instance)

    def write_chunk(self, new: list[Member], changed: list[Member], *, user) -> None:
        """The chunk's members with their history ('+' and '~'), then their My Numbers.
        The history rows are copied by the server from the rows just written (the changed
        members were loaded whole)."""
        reason = self.change_reason
        bulk_insert_with_history(new, Member, reason=reason, user=user, history_in_sql=True)
        bulk_save_with_history(changed, Member, reason=reason, user=user, history_in_sql=True)
        numbers, digests = {}, {}
        for member in (*new, *changed):
            plain = self.my_numbers.get(member._import_row_number)
            if plain is not None:
                numbers[member.pk] = plain
                digests[member.pk] = self.my_number_digests[member._import_row_number]
        if numbers:
            my_numbers_register_bulk(
                numbers=numbers,
                digests=digests,
                new_member_ids={member.pk for member in new},
                user=user,
                reason=reason,
            )

    def before_import_row(self, row, row_number=None, **kwargs) -> None:
        self._current_row = row_number
        super().before_import_row(row, row_number=row_number, **kwargs)

    def after_save_instance(self, instance: Member, row, **kwargs) -> None:
        plain = self.my_numbers.get(kwargs.get("row_number"))
        if plain is not None:
            self.saved_numbers[instance.pk] = plain

    def after_import(self, dataset, result, **kwargs) -> None:
        """The file's My Numbers, registered together once every row is saved (the whole
        import is one transaction, so a failure still writes nothing)."""
        if not self.saved_numbers or result.has_errors() or result.has_validation_errors():
            return
        saved = list(self.saved_numbers.items())
        self.my_numbers.clear()
        for start in range(0, len(saved), MY_NUMBER_CHUNK):  # memory: a chunk at a time
            my_numbers_register_bulk(
                numbers=dict(saved[start : start + MY_NUMBER_CHUNK]),
                user=kwargs.get("user"),
                reason=self.change_reason,
            )


STATUS_COLUMNS = ("symbol", "number", "branch", "as_of", "card", "registration", "ecert_expires_on")


class MynaStatusResource(StrictModelResource):
    """National マイナ保険証 data; rows older than what is stored are skipped and counted."""

    symbol = Field("member__office_id", "symbol", readonly=True)
    number = Field("member__number", "number", readonly=True)
    branch = Field("member__branch", "branch", readonly=True)
    as_of = Field("as_of", "as_of", widget=DateWidget(required=True, future_years=1))
    card = Field("card", "card", widget=CodeWidget(MynaStatus.Card.values))
    registration = Field(
        "registration", "registration", widget=CodeWidget(MynaStatus.Registration.values)
    )
    ecert_expires_on = Field(
        "ecert_expires_on", "ecert_expires_on", widget=DateWidget(future_years=10)
    )

    columns = STATUS_COLUMNS
    key_columns = ("symbol", "number", "branch")
    change_reason = "国の状態データ取込（status.csv）"

    class Meta:
        model = MynaStatus
        fields = STATUS_COLUMNS
        export_order = STATUS_COLUMNS
        import_id_fields = ("symbol", "number", "branch")
        # Every cell is checked by its widget; a model-level pass would only repeat
        # "required" for the cells that already failed.
        clean_model_instances = False
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.members: dict[tuple[str, str, str], int] = {}
        self.statuses: dict[int, MynaStatus] = {}
        self.stale_lines: list[int] = []

    def prepare(self, dataset, offset: int = 0) -> None:
        """The chunk's members (by key, one join) and their stored statuses."""
        self.members = member_ids_by_key(list(_keys(dataset)))
        self.statuses = MynaStatus.objects.in_bulk(list(self.members.values()))

    # --- the set-based path (the `import` command and the admin's confirmation) -----------

    set_based = True
    # What decides whether a stored status changed: every value a row may set.
    COMPARED = ("card", "registration", "ecert_expires_on", "as_of", "dereg_requested_on")

    def compared_attributes(self) -> list[str]:
        return list(self.COMPARED)

    def load_existing(self, rows: list[dict]) -> dict:
        statuses = self.statuses
        return {key: statuses[pk] for key, pk in self.members.items() if pk in statuses}

    def init_instance(self, row=None) -> MynaStatus:
        key = _key(row)
        member_id = self.members.get(key)
        if member_id is None:
            raise ValidationError({"symbol": UNKNOWN_MEMBER.format(key=shown("-".join(key)))})
        return MynaStatus(member_id=member_id)

    def write_chunk(self, new: list[MynaStatus], changed: list[MynaStatus], *, user) -> None:
        """The chunk's statuses with their history ('+' and '~'), the history copied by
        the server from the rows written (the changed statuses were loaded whole)."""
        reason = self.change_reason
        bulk_insert_with_history(new, MynaStatus, reason=reason, user=user, history_in_sql=True)
        bulk_save_with_history(changed, MynaStatus, reason=reason, user=user, history_in_sql=True)

    def get_or_init_instance(self, instance_loader, row):
        key = _key(row)
        member_id = self.members.get(key)
        if member_id is None:
            raise ValidationError({"symbol": UNKNOWN_MEMBER.format(key=shown("-".join(key)))})
        status = self.statuses.get(member_id)
        if status is not None:
            return status, False
        return MynaStatus(member_id=member_id), True

    def import_fields(self, instance: MynaStatus, row, **kwargs) -> None:
        values, errors = {}, {}
        for name in ("card", "registration", "ecert_expires_on", "as_of"):
            try:
                values[name] = self.fields[name].clean(row, **kwargs)
            except ValueError as error:
                errors[name] = [str(error)]
        if errors:
            raise ValidationError(errors)
        instance._is_stale = not myna_status_apply(status=instance, **values)
        if instance._is_stale:
            self.stale_lines.append(self.line_of(kwargs["row_number"]))

    def skip_row(self, instance, original, row, import_validation_errors=None) -> bool:
        return getattr(instance, "_is_stale", False) and not import_validation_errors


FLAG_COLUMNS = ("symbol", "number", "branch", "flag", "reason", "opened_on")


class FlagResource(resources.ModelResource):
    """Open worklist flags (export only; the nightly job is the only writer)."""

    symbol = Field("member__office_id", "symbol")
    number = Field("member__number", "number")
    branch = Field("member__branch", "branch")
    flag = Field("kind", "flag")
    reason = Field("reason", "reason")
    opened_on = Field("opened_on", "opened_on", widget=DateWidget())

    class Meta:
        model = Flag
        fields = FLAG_COLUMNS
        export_order = FLAG_COLUMNS

    def get_queryset(self):
        return (
            Flag.objects.filter(closed_on__isnull=True)
            .select_related("member")
            .order_by("member__office_id", "member__number", "member__branch", "kind")
        )

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("対応フラグは夜間処理だけが書き込みます。")
