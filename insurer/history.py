"""Saving a tracked model with its history reason and user (simple-history)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import models


def history_user(user: AbstractBaseUser | None):
    """The user to record, or None for jobs and anonymous callers."""
    return user if user is not None and user.is_authenticated else None


def save_with_history(
    instance: models.Model, *, reason: str, user: AbstractBaseUser | None, clean: bool = True
) -> None:
    """full_clean (unless told not to), then save with the history reason and user."""
    instance._change_reason = reason
    instance._history_user = history_user(user)
    if clean:
        instance.full_clean()
    instance.save()


SYSTEM_LABEL = "システム（夜間処理・取込・発行ジョブ）"


def person_label(user: AbstractBaseUser | None) -> str:
    """How history and logs name who did something: the full name, else the login name;
    a change without a user was made by a job."""
    if user is None or getattr(user, "pk", None) is None:
        return SYSTEM_LABEL
    # Japanese order: family name (last_name) first.
    full_name = f"{getattr(user, 'last_name', '')} {getattr(user, 'first_name', '')}".strip()
    return full_name or user.get_username()
