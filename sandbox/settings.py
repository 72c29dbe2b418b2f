"""Behaviour settings changed through the admin API, kept in the database.

Each setting is a pydantic model with defaults; ``POST /_admin/reset`` brings all back to them.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from sandbox.db import SettingRow
from sandbox.store import utc_now

S = TypeVar("S", bound=BaseModel)


def load_setting(session: Session, name: str, model: type[S]) -> S:
    """The stored setting, or the model's defaults when none was set."""
    row = session.get(SettingRow, name)
    return model() if row is None else model.model_validate(row.data)


def save_setting(session: Session, name: str, value: BaseModel) -> None:
    row = session.get(SettingRow, name)
    data = value.model_dump(mode="json")
    if row is None:
        session.add(SettingRow(name=name, data=data, updated_at=utc_now()))
    else:
        row.data = data
        row.updated_at = utc_now()
