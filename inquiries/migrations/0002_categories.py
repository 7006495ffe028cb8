from django.db import migrations


def load_categories(apps, schema_editor):
    from inquiries.guidance import INITIAL_CATEGORIES

    Category = apps.get_model("inquiries", "Category")
    for order, data in enumerate(INITIAL_CATEGORIES, start=1):
        Category.objects.update_or_create(
            code=data["code"],
            defaults={
                "name": data["name"],
                "order": order * 10,
                "guidance": data["guidance"],
                "opens_incident": data.get("opens_incident", False),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("inquiries", "0001_initial")]

    operations = [migrations.RunPython(load_categories, migrations.RunPython.noop)]
