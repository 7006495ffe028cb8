"""Bulk inserts and updates that write their history rows too (seeding, set-based jobs
and imports).

On PostgreSQL rows go through COPY, which is an order of magnitude faster than
``bulk_create`` for large batches (an update goes through COPY into a scratch table and
one ``UPDATE … FROM``); elsewhere simple-history's ``bulk_create_with_history`` and
``bulk_update_with_history`` do the same job. Either way every row gets a history row
('+' inserted, '~' changed) with the given reason and user.
"""

from collections.abc import Callable, Collection, Iterable, Sequence
from operator import attrgetter

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, connections, models, router
from django.db.models.base import ModelState
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from .history import history_user


def instance_maker(model: type[models.Model]) -> Callable[..., models.Model]:
    """A maker of unsaved instances equal to ``model(**values)`` (values by attname), for
    bulk work: the defaults are computed once (callable ones per instance) instead of
    ``Model.__init__``'s per-field work for each of thousands of rows. No post_init signal
    is sent (no model written in bulk listens to it)."""
    static, dynamic = {}, []
    for field in model._meta.concrete_fields:
        if field.generated:
            continue  # computed by the database; never written
        if field.has_default() and callable(field.default):
            dynamic.append(field)
        else:
            static[field.attname] = field.get_default()

    def make(**values) -> models.Model:
        obj = model.__new__(model)
        obj._state = ModelState()
        attributes = obj.__dict__
        attributes.update(static)
        for field in dynamic:
            attributes[field.attname] = field.get_default()
        attributes.update(values)
        return obj

    return make


def loaded_instances(
    queryset: models.QuerySet, *annotations: str, defer: Collection[str] = ()
) -> list[models.Model]:
    """The rows of `queryset` as model instances equal to what iterating it gives (every
    concrete field but those named in `defer`, which are read on access as with
    ``QuerySet.defer``; the named annotations as attributes; marked loaded from its
    database), for bulk reads of thousands: one ``values_list`` and no ``Model.__init__``
    per row. No post_init signal is sent (as ``instance_maker``)."""
    model = queryset.model
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in defer]
    names += annotations
    make = _loaded_maker(model, names, queryset.db)
    return [make(row) for row in queryset.values_list(*names)]


def _loaded_maker(
    model: type[models.Model], names: Sequence[str], alias: str
) -> Callable[[Sequence], models.Model]:
    """row -> an instance of `model` loaded from `alias` with `names` set from the row's
    values, in order: no ``Model.__init__`` (nor its post_init signal)."""

    def make(values: Sequence) -> models.Model:
        obj = model.__new__(model)
        state = obj._state = ModelState()
        state.adding, state.db = False, alias
        obj.__dict__.update(zip(names, values, strict=True))
        return obj

    return make


class _EqualsAny(models.Expression):
    """`column = ANY(%s)` with the values as one array parameter (PostgreSQL)."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, column: models.F, values: list) -> None:
        super().__init__()
        self.column, self.values = column, values

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, expressions: list) -> None:
        (self.column,) = expressions

    def as_sql(self, compiler, connection) -> tuple[str, tuple]:
        sql, params = compiler.compile(self.column)
        # An array of the column's own type: PostgreSQL hashes a long array only for the
        # same-type operator (bigint = integer would compare each value in turn).
        db_type = self.column.output_field.db_type(connection)
        return f"{sql} = ANY(%s::{db_type}[])", (*params, self.values)


def in_values(name: str, values: Iterable) -> models.Q | _EqualsAny:
    """The filter `name__in=values` for thousands of values: on PostgreSQL one array
    parameter (the same plan as IN), so that each chunk's query is not a text of thousands
    of placeholders for Django to compile and psycopg to parse; elsewhere `__in`."""
    values = list(values)
    if connection.vendor != "postgresql":
        return models.Q(**{f"{name}__in": values})
    return _EqualsAny(models.F(name), values)


def stored_maker(model: type[models.Model], alias: str) -> Callable[[Sequence], models.Model]:
    """A maker of instances equal to ``model.from_db(alias, …)`` from a row of every
    concrete field's value (``stored_columns`` order) as psycopg returns them on
    PostgreSQL (no field there needs a converter), for loading thousands of rows:
    no ``Model.__init__`` per row (no post_init signal: no model loaded this way listens
    to it)."""
    return _loaded_maker(model, [field.attname for field in model._meta.concrete_fields], alias)


def stored_columns(model: type[models.Model], table_alias: str) -> str:
    """The select list ``stored_maker`` reads, with each column under `table_alias`."""
    return ", ".join(f'{table_alias}."{field.column}"' for field in model._meta.concrete_fields)


def _insert_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        field for field in model._meta.concrete_fields if not getattr(field, "generated", False)
    ]


def _copy(connection, model: type[models.Model], fields: list[models.Field], rows) -> None:
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    # Django's wrapper around a psycopg 3 cursor; a refused value is a Django DatabaseError.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _reserve_ids(connection, model: type[models.Model], count: int) -> list[int]:
    sequence = f"{model._meta.db_table}_{model._meta.pk.column}_seq"
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
        return [row[0] for row in cursor.fetchall()]


def _stamp_auto_dates(objs: Sequence[models.Model], fields: list[models.Field]) -> None:
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                if getattr(obj, field.attname) is None or field.auto_now:
                    setattr(obj, field.attname, now)


def _row_getter(fields: list[models.Field]) -> Callable[[models.Model], tuple]:
    """obj -> the tuple of its values of `fields` (one C-level attrgetter)."""
    getter = attrgetter(*(field.attname for field in fields))
    return getter if len(fields) > 1 else lambda obj: (getter(obj),)


def _write_history(
    connection,
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    history_type: str,
    reason: str,
    user: AbstractBaseUser | None,
) -> None:
    """One history row per object, as simple-history would write it on save()."""
    history_model = model.history.model
    tracked = {field.attname for field in _insert_fields(history_model)} & {
        field.attname for field in _insert_fields(model)
    }
    extra = {
        "history_date": timezone.now(),
        "history_change_reason": reason,
        "history_type": history_type,
    }
    recorded_user = history_user(user)
    if recorded_user is not None:
        extra["history_user"] = recorded_user.pk
    # The copied columns in any order: the object's own first (one C-level getter per
    # row), then the history columns, the same for every row.
    own = [field for field in _insert_fields(history_model) if field.attname in tracked]
    added = [field for field in _insert_fields(history_model) if field.name in extra]
    values = tuple(extra[field.name] for field in added)
    getter = _row_getter(own)
    rows = (getter(obj) + values for obj in objs)
    _copy(connection, history_model, own + added, rows)


def _write_history_in_sql(
    connection,
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    history_type: str,
    reason: str,
    user: AbstractBaseUser | None,
) -> None:
    """``_write_history`` done by the server: one INSERT … SELECT of the rows just written
    (by primary key, in the order of `objs`), instead of sending every value back. Only
    where the table holds exactly what the objects hold (the rows were just written from
    them)."""
    history_model = model.history.model
    model_fields = {field.attname: field for field in _insert_fields(model)}
    tracked = [
        field
        for field in _insert_fields(history_model)
        if field.attname in model_fields and not field.name.startswith("history_")
    ]
    quote = connection.ops.quote_name
    recorded_user = history_user(user)
    pk = model._meta.pk
    columns = [quote(field.column) for field in tracked]
    values = [f"t.{quote(model_fields[field.attname].column)}" for field in tracked]
    columns += ["history_date", "history_change_reason", "history_type", "history_user_id"]
    values += ["%s", "%s", "%s", "%s"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history_model._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM unnest(%s::bigint[]) WITH ORDINALITY AS k(pk, n) "
            f"JOIN {quote(model._meta.db_table)} AS t ON t.{quote(pk.column)} = k.pk "
            "ORDER BY k.n",
            [
                timezone.now(),
                reason,
                history_type,
                recorded_user.pk if recorded_user is not None else None,
                [obj.pk for obj in objs],
            ],
        )


def bulk_insert_with_history(
    objs: Sequence[models.Model],
    model: type[models.Model],
    *,
    reason: str,
    user: AbstractBaseUser | None = None,
    history_in_sql: bool = False,
) -> Sequence[models.Model]:
    """Insert new rows and one history row each; primary keys are set on `objs`.

    ``history_in_sql``: on PostgreSQL the history rows are copied by the server from the
    rows just written (``_write_history_in_sql``) rather than sent from Python."""
    if not objs:
        return objs
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return bulk_create_with_history(
            list(objs),
            model,
            batch_size=2000,
            default_change_reason=reason,
            default_user=history_user(user),
        )
    fields = _insert_fields(model)
    pk = model._meta.pk
    if isinstance(pk, models.AutoField | models.BigAutoField):
        for obj, new_id in zip(objs, _reserve_ids(connection, model, len(objs)), strict=True):
            obj.pk = new_id
    _stamp_auto_dates(objs, fields)
    # Plain Python values: psycopg adapts dates, numbers, booleans and text itself.
    getter = _row_getter(fields)
    _copy(connection, model, fields, (getter(obj) for obj in objs))
    write_history = _write_history_in_sql if history_in_sql else _write_history
    write_history(connection, model, objs, history_type="+", reason=reason, user=user)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
    return objs


def bulk_insert(objs: Sequence[models.Model], model: type[models.Model]) -> None:
    """Insert rows of a model without history (logs), by COPY on PostgreSQL."""
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=1000)
        return
    fields = [field for field in _insert_fields(model) if not field.primary_key]
    _stamp_auto_dates(objs, fields)
    attnames = [field.attname for field in fields]
    _copy(connection, model, fields, ([getattr(o, name) for name in attnames] for o in objs))


def bulk_insert_values(
    model: type[models.Model], attnames: Sequence[str], rows: Sequence[Sequence]
) -> None:
    """Insert plain rows (values of `attnames`, no history: link tables) without making a
    model instance per row: COPY on PostgreSQL, bulk_create elsewhere."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(attnames, row, strict=True))) for row in rows]
        model.objects.bulk_create(objs, batch_size=1000)
        return
    _copy(connection, model, [model._meta.get_field(name) for name in attnames], rows)


def _update_fields(model: type[models.Model]) -> list[models.Field]:
    """What an update writes: every stored field but the key and the creation stamp."""
    return [
        field
        for field in _insert_fields(model)
        if not field.primary_key and not getattr(field, "auto_now_add", False)
    ]


def bulk_save_with_history(
    objs: Sequence[models.Model],
    model: type[models.Model],
    *,
    reason: str,
    user: AbstractBaseUser | None = None,
    history_in_sql: bool = False,
) -> Sequence[models.Model]:
    """Write every field of stored rows (as save() would) and one '~' history row each.

    On PostgreSQL: COPY into a scratch table, then one UPDATE … FROM. ``history_in_sql``:
    the history rows are copied by the server from the updated rows (the objects must hold
    every stored value, e.g. loaded whole: the history keeps the table's values).
    """
    if not objs:
        return objs
    alias = router.db_for_write(model)
    connection = connections[alias]
    fields = _update_fields(model)
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False):
            for obj in objs:
                setattr(obj, field.attname, now)
    if connection.vendor != "postgresql":
        for obj in objs:
            obj._change_reason = reason
        bulk_update_with_history(
            list(objs),
            model,
            [field.name for field in fields],
            batch_size=1000,
            default_change_reason=reason,
            default_user=history_user(user),
        )
        return objs
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), model._meta.pk
    scratch = quote(f"bulk_update_{model._meta.db_table}")
    columns = [pk, *fields]
    names = ", ".join(quote(field.column) for field in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {scratch} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        with connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY {scratch} ({names}) FROM STDIN") as copy:
                for obj in objs:
                    copy.write_row([getattr(obj, field.attname) for field in columns])
        assignments = ", ".join(f"{quote(f.column)} = s.{quote(f.column)}" for f in fields)
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM {scratch} AS s "
            f"WHERE t.{quote(pk.column)} = s.{quote(pk.column)}"
        )
        cursor.execute(f"DROP TABLE {scratch}")
    write_history = _write_history_in_sql if history_in_sql else _write_history
    write_history(connection, model, objs, history_type="~", reason=reason, user=user)
    return objs
