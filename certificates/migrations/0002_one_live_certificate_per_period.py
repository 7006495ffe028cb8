"""ONE-1 in PostgreSQL: one person never holds two live certificates whose validity
overlaps. A reissue first marks the old certificate superseded, so it no longer counts.

SQLite has no exclusion constraints; there the issuing service enforces the same rule.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE certificates_certificate
  ADD CONSTRAINT certificate_one_live_per_period
  EXCLUDE USING gist (member_id WITH =, daterange(valid_from, valid_until, '[]') WITH &&)
  WHERE (status IN ('issued', 'expired'));
"""
DROP = "ALTER TABLE certificates_certificate DROP CONSTRAINT IF EXISTS certificate_one_live_per_period;"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("certificates", "0001_initial")]

    operations = [migrations.RunPython(add_constraint, drop_constraint)]
