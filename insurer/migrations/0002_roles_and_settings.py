from django.db import migrations


def create_roles_and_settings(apps, schema_editor):
    from insurer.roles import sync_role_permissions

    # Permissions that exist already are attached now; the rest after migrate finishes
    # (post_migrate runs the same sync).
    sync_role_permissions(apps=apps)
    apps.get_model("insurer", "InsurerSettings").objects.get_or_create(pk=1)


def remove_roles(apps, schema_editor):
    from insurer.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("insurer", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles_and_settings, remove_roles)]
